r"""Learned density ratios for the off-shell toy: a small scikit-learn network, exported to ONNX.

Needs the optional extra ``train`` (scikit-learn, skl2onnx): ``pip install 'roonsbi[train]'``.

**Training.** One multi-class classifier (an MLP) is trained on events :math:`x \sim p_J`
drawn from each basis sample :math:`J \in \{\mathrm{SBI}, S, B\}` of
:class:`roonsbi.toy.OffShellToy` (:meth:`~roonsbi.toy.OffShellToy.sample_basis`; no weights,
no use of the exact ratios), :math:`N_J` events of class :math:`J`. The minimum of the
cross-entropy is the class posterior

.. math::

    s_J(x) = \frac{\pi_J\,p_J(x)}{\sum_K \pi_K\,p_K(x)}, \qquad \pi_J = N_J \Big/ \sum_K N_K,

so, with the training mixture as reference, :math:`p_\mathrm{ref} = \sum_K \pi_K p_K`,
the density ratios are :math:`r_J(x) = p_J(x)/p_\mathrm{ref}(x) = s_J(x)/\pi_J`.
One network for all processes (rather than one binary classifier per process against a
common reference) is cheaper (one file, one evaluation) and keeps the ratios consistent,
:math:`\sum_J \pi_J r_J = 1` event by event: the information on :math:`\mu` sits in the
few-percent differences between :math:`r_\mathrm{SBI}` and :math:`r_B` (destructive
interference), where the independent errors of separately trained networks do not cancel.

**Normalisation calibration.** Every ratio integrates to one over the reference,
:math:`\int p_\mathrm{ref} r_J = 1`. A finite training leaves it off by a few percent, which
biases :math:`\hat\mu` (the fit absorbs a normalisation error of :math:`r_\mathrm{SBI}` into
:math:`\mu`). So each ratio is divided by its mean :math:`c_J` on an independent calibration
sample from :math:`p_\mathrm{ref}` (its own events of each process, in the proportions
:math:`\pi_K`): :math:`r_J = s_J/(\pi_J c_J)`. This uses the networks and reference events
only. The closure test (:func:`roonsbi.inputs.diagnostics.normalisation_closure`) on a third,
independent reference sample then checks it.

Measured on the demo's pseudo-data (exact likelihood: :math:`\hat\mu = 0.64`, 68% CL
[0.42, 0.94]) with 60k training events per process: binary networks (each process against the
toy's :math:`p_\mathrm{ref}`) without calibration give :math:`\hat\mu` = 0.78-1.37 (3 seeds),
calibrated 0.54-0.68 with 68% CL edges up to 0.18 off; the multi-class network without
calibration 0.05-1.64 (3 seeds; its raw normalisations are off by 1-3%), calibrated 0.62-0.70
with edges within 0.11 (6 seeds).

**Export and evaluation.** The fitted pipeline (standardisation + MLP) is written to ONNX
with skl2onnx (float inputs ``[N, d]``, output ``probabilities`` of shape ``[N, K]``, feature
names in the metadata, see :func:`roonsbi.networks.set_feature_names`), and the ratio columns
``r_J`` come from roonsbi's own ONNX path: :class:`roonsbi.networks.RatioModel` with
``output="ratio"``, ``output_index`` :math:`J` and ``scale`` :math:`1/(\pi_J c_J)`, evaluated by
:func:`roonsbi.columns.evaluate_columns` (onnxruntime).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..atomic import refuse_existing, write_bytes
from ..naming import ratio_column
from ..optional import optional_module, optional_modules
from ..spec import PathLike
from .columns import evaluate_columns
from .networks import RatioModel, _store_feature_names
from .toy import COEFFICIENTS, OffShellToy

__all__ = [
    "PROCESSES",
    "TrainedRatios",
    "export_onnx",
    "feature_columns",
    "feature_names",
    "ratio_models",
    "train_classifier",
    "train_toy_ratios",
]


#: The basis processes of the toy, in the order of the classifier's classes.
PROCESSES = tuple(COEFFICIENTS)


_TRAINING = "training ratio networks"


def _import_sklearn() -> tuple[Any, Any]:
    return optional_module("sklearn", _TRAINING), optional_module("skl2onnx", _TRAINING)


def feature_names(dim: int) -> list[str]:
    """Names of the toy's features: ``x0, x1, ...``."""
    return [f"x{j}" for j in range(dim)]


def feature_columns(x: np.ndarray, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Events ``x`` (n, d) as a mapping feature name -> values (the input of
    :func:`roonsbi.inputs.columns.evaluate_columns`)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"events must have shape (n, d), got {x.shape}")
    names = list(names) if names is not None else feature_names(x.shape[1])
    if len(names) != x.shape[1]:
        raise ValueError(f"{len(names)} feature names for events with {x.shape[1]} features")
    return {name: x[:, j] for j, name in enumerate(names)}


def train_classifier(samples: Mapping[str, np.ndarray], *, hidden: Sequence[int] = (32, 32), epochs: int = 60,
                     batch_size: int = 2000, learning_rate: float = 3e-3, seed: int = 0) -> Any:
    """Fit standardisation + MLP (ReLU, Adam, cross-entropy) to classify the events of each sample.

    Args:
        samples: class name -> events (n_J, d); the class order is that of the mapping.
        hidden: sizes of the hidden layers.
        epochs: passes over the training events (fixed: no early stopping).

    Returns:
        the fitted scikit-learn pipeline; ``classes_`` are 0..K-1 in the order of ``samples``.
    """
    import warnings

    _import_sklearn()
    with optional_modules(_TRAINING):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    if len(samples) < 2:
        raise ValueError(f"need at least two samples to classify, got {list(samples)}")
    dims = {k: np.shape(v)[1] if np.ndim(v) == 2 else None for k, v in samples.items()}
    if None in dims.values() or len(set(dims.values())) != 1:
        raise ValueError(f"every sample must be an (n, d) array with the same d; got shapes "
                         f"{ {k: np.shape(v) for k, v in samples.items()} }")
    empty = [k for k, v in samples.items() if len(v) == 0]
    if empty:
        raise ValueError(f"empty training samples: {empty}")
    x = np.concatenate([np.asarray(v, dtype=np.float64) for v in samples.values()])
    y = np.concatenate([np.full(len(v), j) for j, v in enumerate(samples.values())])
    mlp = MLPClassifier(tuple(hidden), activation="relu", solver="adam", batch_size=batch_size,
                        learning_rate_init=learning_rate, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                        random_state=seed)
    clf = make_pipeline(StandardScaler(), mlp)

    # one BLAS thread: the matrices are small (batch x 32), and more threads only contend for the cores
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # a fixed number of epochs is the intent
        clf.fit(x, y)
    return clf


def export_onnx(classifier: Any, path: PathLike, features: Sequence[str], overwrite: bool = False) -> Path:
    """Write a fitted scikit-learn classifier as ONNX: one float input ``[N, d]``, outputs ``label``
    and ``probabilities`` ``[N, K]`` (a tensor: ``zipmap=False``), ``features`` in the metadata.
    An existing ``path`` is replaced only with ``overwrite``, atomically (:mod:`roonsbi.atomic`)."""
    _, skl2onnx = _import_sklearn()
    FloatTensorType = optional_module("skl2onnx.common.data_types", _TRAINING).FloatTensorType
    onnx = optional_module("onnx", _TRAINING)

    path = refuse_existing(path, overwrite)
    onx = skl2onnx.convert_sklearn(classifier, initial_types=[("x", FloatTensorType([None, len(features)]))],
                                   options={id(classifier): {"zipmap": False}}, target_opset=17)
    _store_feature_names(onnx, onx, features)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_bytes(path, onx.SerializeToString(), overwrite)


def ratio_models(path: PathLike, classes: Sequence[str], priors: Mapping[str, float], features: Sequence[str],
                 calibration: Mapping[str, float] | None = None) -> dict[str, RatioModel]:
    r"""Columns ``r_J`` of a multi-class network: :math:`r_J = s_J/(\pi_J c_J)` (``c_J`` = 1 without calibration)."""
    calibration = calibration or {}
    return {ratio_column(c): RatioModel(path, output="ratio", features=features, output_name="probabilities",
                                        output_index=j, scale=1.0 / (priors[c] * calibration.get(c, 1.0)))
            for j, c in enumerate(classes)}


@dataclass
class TrainedRatios:
    """A trained, exported and calibrated ratio network (see the module documentation).

    Attributes:
        path: the ONNX file.
        spec: column ``r_J`` -> :class:`~roonsbi.networks.RatioModel` (calibrated).
        classifier: the fitted scikit-learn pipeline.
        priors: :math:`\\pi_J`; calibration: :math:`c_J`; features: input names.
    """

    path: Path
    spec: dict[str, RatioModel]
    classifier: Any
    priors: dict[str, float]
    calibration: dict[str, float]
    features: list[str]
    n_train: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def evaluate(self, x: np.ndarray, calibrated: bool = True) -> dict[str, np.ndarray]:
        """Ratio columns ``r_J`` of events ``x`` (n, d) through onnxruntime (float64 columns)."""
        spec = self.spec if calibrated else ratio_models(self.path, list(self.priors), self.priors, self.features)
        return evaluate_columns(feature_columns(x, self.features), spec, dtype=np.float64, progress=False)

    def sample_reference(self, toy: OffShellToy, n: int, rng: np.random.Generator) -> np.ndarray:
        """n events from the training reference :math:`p_\\mathrm{ref} = \\sum_J \\pi_J p_J`
        (multinomial numbers per process, shuffled)."""
        counts = rng.multinomial(n, [self.priors[p] for p in self.priors])
        x = np.concatenate([toy.sample_basis(p, k, rng) for p, k in zip(self.priors, counts)])
        return x[rng.permutation(n)]

    def exact_ratios(self, toy: OffShellToy, x: np.ndarray) -> dict[str, np.ndarray]:
        """The toy's exact :math:`r_J = p_J/\\sum_K \\pi_K p_K` against this reference (for checks)."""
        p = toy.basis_densities(x)
        ref = sum(self.priors[k] * p[k] for k in self.priors)
        return {ratio_column(k): p[k] / ref for k in self.priors}

    def to_dict(self) -> dict[str, Any]:
        return {"file": str(self.path), "priors": self.priors, "calibration": self.calibration,
                "features": self.features, "n_train": self.n_train, "seconds": self.seconds}


def train_toy_ratios(toy: OffShellToy, path: PathLike, *, n_train: int = 60_000, n_calibration: int = 60_000,
                     seed: int = 0, overwrite: bool = False, **train_options: Any) -> TrainedRatios:
    """Train, export (to ``path``) and calibrate the ratio network of the toy's basis processes.

    Args:
        toy: the analytic toy (its samplers provide the training events).
        path: the ONNX file to write.
        n_train: training events per process.
        n_calibration: events of the independent calibration sample (from the reference).
        seed: seeds the event samples and the network initialisation.
        overwrite: replace an existing ``path``.
        train_options: passed to :func:`train_classifier` (``hidden``, ``epochs``, ...).
    """
    if n_train < 1 or n_calibration < 1:
        raise ValueError(f"n_train and n_calibration must be positive, got {n_train}, {n_calibration}")
    refuse_existing(path, overwrite)  # before the training, not after it
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    samples = {p: toy.sample_basis(p, n_train, rng) for p in PROCESSES}
    features = feature_names(toy.dim)
    clf = train_classifier(samples, seed=seed, **train_options)
    path = export_onnx(clf, path, features, overwrite=overwrite)
    total = sum(len(v) for v in samples.values())
    priors = {p: len(v) / total for p, v in samples.items()}
    trained = TrainedRatios(path, {}, clf, priors, {}, features, {p: len(v) for p, v in samples.items()})
    raw = trained.evaluate(trained.sample_reference(toy, n_calibration, rng), calibrated=False)
    trained.calibration = {p: float(np.mean(raw[ratio_column(p)])) for p in PROCESSES}
    trained.spec = ratio_models(path, PROCESSES, priors, features, trained.calibration)
    trained.seconds = time.perf_counter() - t0
    return trained
