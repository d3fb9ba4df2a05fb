"""The errors of pyhf JSON export and import, and the exceptions pyhf's validation raises."""

from __future__ import annotations

__all__ = ["PyhfExportError"]


class PyhfExportError(ValueError):
    """A construct that pyhf JSON cannot express exactly."""


def _pyhf_invalid() -> tuple[type[Exception], ...]:
    """What pyhf raises for an invalid workspace: the schema (``InvalidSpecification``, from
    jsonschema's validation) and the model build (``pyhf.Workspace.model``: unknown
    measurements, modifiers, bad parameter configurations, name clashes)."""
    from pyhf import exceptions as e

    return (e.InvalidSpecification, e.InvalidMeasurement, e.InvalidModel, e.InvalidModifier, e.InvalidNameReuse,
            e.InvalidInterpCode, e.InvalidWorkspaceOperation, e.Unsupported, e.SchemaNotFound)


def _patch_invalid() -> tuple[type[Exception], ...]:
    """What applying a JSON patch (jsonpatch) raises for a patch that does not fit the workspace."""
    import jsonpatch
    import jsonpointer

    return (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException)


def _patchset_invalid() -> tuple[type[Exception], ...]:
    """What ``pyhf.PatchSet`` (schema) and ``PatchSet.verify`` (digest) raise."""
    from pyhf import exceptions as e

    return (e.InvalidSpecification, e.InvalidPatchSet, e.PatchSetVerificationError)
