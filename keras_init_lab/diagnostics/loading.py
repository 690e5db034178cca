"""Open a saved model for ``check``: a missing file, a wrong suffix and a corrupt archive
each get their own message.

:func:`check_model_path` needs no TensorFlow, so a command-line typo is answered at once;
:func:`load_model_file` then reads the archive.

Example:
    >>> check_model_path("missing.keras")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no such model file: 'missing.keras'.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["check_model_path", "load_model_file"]

#: First bytes of an HDF5 file (the legacy ``.h5`` format), from the HDF5 specification.
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def check_model_path(path) -> Path:
    """Return ``path`` as a ``Path`` if it names an existing ``.keras`` or ``.h5`` file.

    Args:
        path: a string or ``Path``.

    Returns:
        The path.

    Raises:
        TypeError: ``path`` is not a string or path.
        ValueError: the suffix is not ``.keras`` or ``.h5``.
        FileNotFoundError: no file at ``path``.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a file path; received path={path!r}.")
    path = Path(path)
    if path.suffix.lower() not in (".keras", ".h5"):
        raise ValueError(
            f"check needs a saved Keras model (.keras or .h5); received {str(path)!r}. Save "
            "one with model.save('model.keras')."
        )
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {str(path)!r}.")
    return path


def load_model_file(path):
    """Load a saved Keras model for checking, telling a missing file from a corrupt one.

    Example::

        model = load_model_file("model.keras")   # then check_model(model)

    Args:
        path: a ``.keras`` (zip archive) or ``.h5`` (HDF5) file.

    Returns:
        The model, loaded with ``compile=False``.

    Raises:
        TypeError: ``path`` is not a string or path.
        FileNotFoundError: no file at ``path``.
        ValueError: a wrong suffix, or the file exists but is not a valid Keras archive.
    """
    path = check_model_path(path)
    suffix = path.suffix.lower()
    size = path.stat().st_size
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ValueError(
            f"cannot load {str(path)!r}: the file exists ({size} bytes) but is not a valid "
            "Keras archive (a .keras file is a zip archive; this one is not). Save it again "
            "with model.save('model.keras')."
        )
    if suffix == ".h5":
        with path.open("rb") as handle:
            if handle.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
                raise ValueError(
                    f"cannot load {str(path)!r}: the file exists ({size} bytes) but is not a "
                    "valid HDF5 file. Save it again with model.save('model.keras')."
                )
    import keras  # here, so that checking a path does not start TensorFlow

    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises several types for unreadable archives
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"cannot load {str(path)!r}: the file exists ({size} bytes) but is not a valid "
            f"Keras archive: {reason}"
        ) from None
