"""The runner script as shipped to Hugging Face Jobs: core/train/runner.py with tunesmith's scoring rules
embedded, so the job scores completions with the very modules the evaluation uses.

``huggingface_hub.run_uv_job`` ships one script file. GRPO's rewards (core/train/rewards.py) are built
from core.refusal, core.evaluate.scorers_match and core.evaluate.scorers_functional; rather than re-type
them in the runner, :func:`build_script` copies their source text into the runner's ``_BUNDLED`` table
(the one line marked :data:`MARKER`), and the runner serves them to ``import`` from there. The modules
are found by following the module-level ``import``/``from`` statements of :data:`ROOTS` through tunesmith
(imports inside functions run only when called, so they are not followed). Packages (``core``,
``core.evaluate``, ...) are served as empty packages: their ``__init__`` files are not needed and may
import more than the job has.

Every third-party module the bundle imports must be installed in the job: the standard library, or a
dependency in the runner's PEP 723 header; :func:`build_script` raises :class:`BundleError` otherwise,
so a change that pulls (say) litellm into a scoring module fails at submission, not inside a paid job.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from core.errors import TunesmithError

RUNNER = Path(__file__).resolve().parent / "runner.py"
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the core package
ROOTS = ("core.train.rewards",)
MARKER = "_BUNDLED: dict[str, str] = {}  # core.train.bundle fills this in the script shipped to HF Jobs"
PACKAGE = "core"


class BundleError(TunesmithError):
    """The scoring modules cannot be embedded in the runner (a missing module or an uninstallable import)."""


def _module_path(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _top_level_imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for the module-level imports (inside top-level if/try blocks too);
    a plain ``import a.b`` gives ("a.b", [])."""
    found: list[tuple[str, list[str]]] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend((a.name, []) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    raise BundleError(f"relative import 'from {'.' * node.level}{node.module or ''} import ...' "
                                      f"cannot be bundled: use the absolute module name")
                found.append((node.module or "", [a.name for a in node.names]))
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return found


def _is_package(name: str, root: Path) -> bool:
    return root.joinpath(*name.split("."), "__init__.py").is_file()


def closure(roots: tuple[str, ...] = ROOTS, root: Path = SOURCE_ROOT) -> tuple[dict[str, str], set[str]]:
    """(tunesmith module name -> source, third-party top-level names) for everything ``roots`` import.
    Raises BundleError for a tunesmith module that is not there, or a name taken from a package's
    ``__init__`` (the bundle serves packages empty)."""
    sources: dict[str, str] = {}
    third_party: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in sources:
            continue
        path = _module_path(name, root)
        if path is None:
            raise BundleError(f"cannot bundle {name}: no module file {name.replace('.', '/')}.py under {root}")
        text = path.read_text(encoding="utf-8")
        sources[name] = text
        for module, names in _top_level_imports(ast.parse(text, filename=str(path))):
            top = module.split(".")[0]
            if top == "__future__":
                continue
            if top != PACKAGE:
                if top not in sys.stdlib_module_names:
                    third_party.add(top)
                continue
            if _module_path(module, root) is not None:
                todo.append(module)
                continue
            if not _is_package(module, root):
                raise BundleError(f"{name} imports {module}, which is not a tunesmith module")
            for item in names:  # from a package: only its submodules can be served
                if _module_path(f"{module}.{item}", root) is None:
                    raise BundleError(f"{name} imports {item!r} from the package {module} (its __init__), which "
                                      f"the bundle serves empty: import it from the module that defines it")
                todo.append(f"{module}.{item}")
    return dict(sorted(sources.items())), third_party


def _dependency_names(runner: Path) -> set[str]:
    from core.train.hub import pep723_dependencies

    return {re.split(r"[\s<>=!~;\[]", d.strip(), maxsplit=1)[0].lower().replace("-", "_")
            for d in pep723_dependencies(runner)}


def build_script(runner: Path = RUNNER, roots: tuple[str, ...] = ROOTS, root: Path = SOURCE_ROOT) -> str:
    """The runner's text with the scoring modules embedded (see the module docstring)."""
    text = Path(runner).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.rstrip("\n") == MARKER]
    if len(at) != 1:
        raise BundleError(f"{runner}: expected the line {MARKER!r} exactly once (found {len(at)})")
    sources, third_party = closure(roots, root)
    missing = sorted(t for t in third_party if t.lower() not in _dependency_names(runner))
    if missing:
        raise BundleError(f"the scoring modules import {', '.join(missing)}, which the runner's PEP 723 "
                          f"dependencies do not install; add them to {runner.name}'s header or drop the import")
    table = ["_BUNDLED: dict[str, str] = {  # embedded by core.train.bundle: tunesmith's scoring rules\n"]
    table += [f"    {name!r}: {source!r},\n" for name, source in sources.items()]
    table.append("}\n")
    lines[at[0]:at[0] + 1] = table
    return "".join(lines)


def write_script(folder: Path, runner: Path = RUNNER) -> Path:
    """Write the bundled runner as ``folder/runner.py`` (the exact script the job runs) and return it."""
    from core import store

    path = Path(folder) / "runner.py"
    store.atomic_write_text(path, build_script(runner))
    return path
