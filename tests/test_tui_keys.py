"""One meaning per key on every screen: no key is bound to two actions among a screen's own bindings,
the bindings of the project widgets it builds and the App's (on a modal screen only the App's priority
ones reach it); and no screen reads keys outside BINDINGS.

Keys of text fields (Input / TextArea subclasses) are left out: they belong to the field only while one
types in it (enter keeps a note, esc drops it) and every key there is text anyway.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections import defaultdict

import pytest
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea

import screens
from screens.registry import STAGE_SCREENS
from tui.app import TunesmithApp

PROJECT = ("screens.", "tui.")


def _ours(cls: type) -> bool:
    return cls.__module__.startswith(PROJECT)


def bindings_of(cls: type) -> list[Binding]:
    """The bindings a class declares in project code, merged along its MRO the way Textual merges them
    (a class with inherit_bindings=False starts afresh)."""
    out: list[Binding] = []
    for base in reversed(cls.__mro__):
        if "BINDINGS" not in base.__dict__:
            continue
        if not base.__dict__.get("_inherit_bindings", True):
            out = []
        if _ours(base):
            out += [b for b in base.__dict__["BINDINGS"] if isinstance(b, Binding)]
    return out


def keys_of(binding: Binding) -> list[str]:
    return [k.strip() for k in binding.key.split(",") if k.strip()]


def screen_modules() -> list:
    mods = [importlib.import_module(f"screens.{m.name}") for m in pkgutil.iter_modules(screens.__path__)]
    return mods + [importlib.import_module(m) for m in ("tui.dialogs", "tui.errors")]


def screen_classes() -> list[type[Screen]]:
    found: dict[str, type[Screen]] = {}
    for mod in screen_modules():
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, Screen) and obj.__module__ == mod.__name__:
                found[f"{obj.__module__}.{obj.__name__}"] = obj
    return list(found.values())


def widgets_built_by(screen_cls: type[Screen]) -> list[type[Widget]]:
    """The project widgets the screen's module builds (``Name(`` in its source), text fields left out."""
    mod = inspect.getmodule(screen_cls)
    source = inspect.getsource(mod)
    out = []
    for name, obj in vars(mod).items():
        if not (inspect.isclass(obj) and issubclass(obj, Widget) and not issubclass(obj, Screen) and _ours(obj)):
            continue
        if issubclass(obj, (Input, TextArea)):
            continue
        if re.search(rf"(?<![\w.]){re.escape(name)}\(", source):
            out.append(obj)
    return out


def meanings(screen_cls: type[Screen]) -> dict[str, set[str]]:
    actions: dict[str, set[str]] = defaultdict(set)
    for cls in (screen_cls, *widgets_built_by(screen_cls), TunesmithApp):
        for b in bindings_of(cls):
            if cls is TunesmithApp and issubclass(screen_cls, ModalScreen) and not b.priority:
                continue  # a modal screen keeps the App's keys out, all but the priority ones
            action = b.action if b.action.startswith(("app.", "screen.")) else b.action
            for key in keys_of(b):
                actions[key].add(action.removeprefix("app.").removeprefix("screen."))
    return actions


def test_every_screen_is_found() -> None:
    names = {c.__name__ for c in screen_classes()}
    for spec in STAGE_SCREENS.values():
        assert spec.cls in names, spec.name
    assert {"HomeScreen", "NewProjectScreen", "HelpDialog", "ConfirmDialog"} <= names


@pytest.mark.parametrize("screen_cls", screen_classes(), ids=lambda c: c.__name__)
def test_one_meaning_per_key(screen_cls: type[Screen]) -> None:
    twice = {key: sorted(acts) for key, acts in meanings(screen_cls).items() if len(acts) > 1}
    assert not twice, f"{screen_cls.__name__}: a key bound to two actions: {twice}"


@pytest.mark.parametrize("screen_cls", screen_classes(), ids=lambda c: c.__name__)
def test_keys_come_only_from_bindings(screen_cls: type[Screen]) -> None:
    """A key handler would be a meaning the check above cannot see."""
    for cls in (screen_cls, *widgets_built_by(screen_cls)):
        for name in ("on_key", "_on_key", "key_"):
            own = [n for n in vars(cls) if n == name or (name == "key_" and n.startswith("key_"))]
            assert not own, f"{cls.__name__} reads keys in {own}: bind them in BINDINGS instead"


def test_the_spot_check_keys() -> None:
    from screens.spot_check import SpotCheckScreen

    keys = meanings(SpotCheckScreen)
    assert keys["g"] == {"rate('good')"} and keys["c"] == {"rate('concerning')"} and keys["b"] == {"rate('bad')"}
    assert keys["y"] == {"trust(True)"} and keys["n"] == {"trust(False)"}
    assert keys["left"] == {"prefer('base')"} and keys["right"] == {"prefer('candidate')"}
    assert keys["equals_sign"] == {"prefer('same')"}
    assert keys["e"] == {"note"} and keys["d"] == {"decide"} and keys["u"] == {"undo"}
