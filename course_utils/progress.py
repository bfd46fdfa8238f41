"""Progress bars that leave nothing broken behind in a saved notebook.

``tqdm.auto`` draws a bar in Jupyter as an ipywidget. When the bar closes its widget model
is gone, but the output cell still points at it: save the notebook, reopen it, and every
finished bar reads "Error displaying widget: model not found". The bar here is the same
live widget while it runs; when it closes, its output is replaced (through the display
handle it was shown with) by the bar's final line as plain text, or by nothing for a bar
made with ``leave=False``. Saved notebooks then hold text, which every viewer shows.

Outside a notebook (scripts, ``torchrun``, tests) ``tqdm`` is tqdm's ordinary text bar.
"""

from __future__ import annotations

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.notebook import tqdm_notebook

__all__ = ["tqdm"]


class _NotebookBar(_auto_tqdm):
    """tqdm's notebook bar, shown through a display handle it rewrites as text on close."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["display"] = False  # shown below, through a handle this bar can update
        super().__init__(*args, **kwargs)
        self._handle = None
        if not self.disable:
            from IPython.display import display

            self._handle = display(self.container, display_id=True)
            self.displayed = True

    def close(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        super().close()
        if handle is None:  # disabled, or already closed
            return
        final = self.format_meter(**dict(self.format_dict, ncols=None)) if self.leave else ""
        handle.update({"text/plain": final}, raw=True)
        self.container.close()


#: The bar every course module uses: live widget in Jupyter, text elsewhere.
tqdm = _NotebookBar if issubclass(_auto_tqdm, tqdm_notebook) else _auto_tqdm
