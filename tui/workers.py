"""The one way screens and widgets run blocking work.

    from tui.workers import background

    class MyScreen(Screen):
        @background("load")
        def load(self) -> None:                 # runs in a thread
            rows = core_call(...)               # may raise
            self.post_message(RowsLoaded(rows))  # typed message back to the UI

``background(group)`` is Textual's ``@work(thread=True, exclusive=True, group=group)`` with one
addition: if the function raises, a :class:`tui.messages.WorkFailed` message is posted from the
node that ran it (or from the App, if that node has gone meanwhile); it bubbles to the App,
whose single handler shows the error dialog. The worker still ends in the ERROR state and the
App does not exit. Calling the method returns the Worker. Coroutine functions run as async
workers on the UI thread instead of in a thread.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar

from tui.messages import WorkFailed

F = TypeVar("F", bound=Callable[..., Any])


def _report(node: Any, app: Any, exc: Exception, group: str) -> None:
    try:
        exc._tunesmith_reported = True  # type: ignore[attr-defined]
    except AttributeError:
        pass
    # from the node, so a screen may handle it first; from the App if the node has gone meanwhile
    target = node if _on_stack(node, app) else app
    target.post_message(WorkFailed(exc, group))


def _on_stack(node: Any, app: Any) -> bool:
    """True while the node is mounted on a screen that is still on the App's screen stack."""
    try:
        return bool(node.is_attached) and node.screen in app.screen_stack
    except Exception:  # no screen (the App itself), or already torn down
        return node is app


def background(group: str, *, exclusive: bool = True) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        is_async = inspect.iscoroutinefunction(fn)

        @functools.wraps(fn)
        def start(node: Any, *args: Any, **kwargs: Any) -> Any:
            app = node.app  # taken on the UI thread: a detached node cannot reach it from a thread

            if is_async:

                async def run_async() -> Any:
                    try:
                        return await fn(node, *args, **kwargs)
                    except Exception as exc:
                        _report(node, app, exc, group)
                        raise

                work: Any = run_async
            else:

                def run() -> Any:
                    try:
                        return fn(node, *args, **kwargs)
                    except Exception as exc:
                        _report(node, app, exc, group)
                        raise

                work = run
            return node.run_worker(work, name=fn.__name__, group=group, description=fn.__qualname__,
                                   exclusive=exclusive, thread=not is_async, exit_on_error=False)

        return start  # type: ignore[return-value]

    return decorate
