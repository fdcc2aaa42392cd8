"""A pickle that runs code when loaded: what a crafted checkpoint or data batch could hold."""


class RunsCode:
    """Unpickling this creates the file `marker` (open(marker, 'w')): any loader that
    unpickles it would run code of the file's choosing."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))
