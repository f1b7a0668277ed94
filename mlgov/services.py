"""Model governance: upload (checked, hashed), the lifecycle, the one active production model, loading.

- Upload (`model_upload`): the file is inspected (mlgov/validation.py) before anything is stored, its
  SHA-256 kept; a lab user, an admin or a super_admin uploads; a model starts CANDIDATE.
- Moves (`model_move`) follow MODEL_STATUS_TRANSITIONS: lab users (and admins) move models up to GRADUATED;
  only super_admins enable one; anyone who may move archives (an active production model only by a
  super_admin, which deactivates it). A model whose feature-schema version the feature builder does not
  provide cannot leave CANDIDATE. Every move is a ModelMove row (who, when, from, to).
- Activation (`model_activate`): a super_admin makes an ENABLED model the active production model; the swap
  takes a lock on every enabled model first, so two activations at once run one after the other and the
  database (a partial unique index) never holds two.
- Loading (`model_session`): the stored file's SHA-256 is checked against the one recorded at upload on
  every load; a mismatch refuses to score (ModelTampered), it never falls back to another model.
"""

import hashlib
import logging
import threading

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.roles import Capability, can
from spotopt.errors import Conflict, DomainError, PermissionRefused

from .choices import ModelStatus
from .features import features_of
from .models import MLModel, ModelMove
from .validation import model_inspect

logger = logging.getLogger(__name__)

LAB_CEILING = {ModelStatus.CANDIDATE, ModelStatus.TESTING, ModelStatus.GRADUATED, ModelStatus.ARCHIVED}
UPLOAD_REFUSAL = "Only lab users, admins and super_admins upload models."
ENABLE_REFUSAL = "Only super_admins enable models and choose the production model."


class ModelTampered(DomainError):
    code = "model_tampered"


def _require(user, capability: Capability, refusal: str) -> None:
    if not can(user, capability):
        raise PermissionRefused(refusal)


def _record(model: MLModel, *, user, before: str, note: str = "", activated=False, deactivated=False) -> None:
    ModelMove.objects.create(
        model=model,
        from_status=before,
        to_status=model.status,
        activated=activated,
        deactivated=deactivated,
        by=user,
        by_username=user.username if user else "spotopt",
        at=timezone.now(),
        note=note,
    )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_upload(
    *, user, name: str, version: str, feature_schema_version: str, data: bytes, description: str = ""
) -> MLModel:
    """A person's upload (a Lab role): checked, stored with its SHA-256 and registered as a CANDIDATE."""
    _require(user, Capability.USE_LAB, UPLOAD_REFUSAL)
    return model_register(
        user=user,
        name=name,
        version=version,
        feature_schema_version=feature_schema_version,
        data=data,
        description=description,
    )


def model_register(
    *,
    user,
    name: str,
    version: str,
    feature_schema_version: str,
    data: bytes,
    description: str = "",
    training_metrics: dict | None = None,
    origin: str = "uploaded",
) -> MLModel:
    """Check the file, store it with its SHA-256 and register it as a CANDIDATE (`user` None: spotopt itself,
    e.g. manage.py train_model; the caller has checked who may). `origin` opens the audit row's note."""
    name, version = (name or "").strip(), (version or "").strip()
    if not name or not version:
        raise DomainError("Give the model a name and a version.", code="invalid_model")
    if MLModel.objects.filter(name=name).exists():
        raise Conflict(f"A model named '{name}' exists already; register the new one under its own name.")
    inspection = model_inspect(data, feature_schema_version=feature_schema_version)
    digest = sha256_of(data)
    try:
        with transaction.atomic():
            model = MLModel(
                name=name,
                version=version,
                feature_schema_version=feature_schema_version,
                file_hash=digest,
                description=description,
                uploaded_by=user,
                training_metrics=training_metrics or {},
            )
            model.file.save(f"{digest[:16]}.onnx", ContentFile(data), save=False)
            model.save()
            note = f"{origin}: input {inspection.input_name} width {inspection.width}, {inspection.producer}"
            if features_of(feature_schema_version) is None:
                note += f"; feature schema {feature_schema_version} is unknown: it stays a candidate"
            _record(model, user=user, before=ModelStatus.CANDIDATE, note=note)
    except IntegrityError:
        raise Conflict(f"A model named '{name}' exists already; register the new one under its own name.") from None
    logger.info("model %s %s %s by %s (sha256 %s)", name, version, origin, user.pk if user else "spotopt", digest)
    return model


def model_move(*, user, model: MLModel, status: str, note: str = "") -> MLModel:
    """Move a model one step of its lifecycle, by the rules above."""
    _require(user, Capability.USE_LAB, UPLOAD_REFUSAL)
    if status not in ModelStatus.values:
        raise DomainError(f"Unknown model status '{status}'.", code="invalid_status")
    if status not in LAB_CEILING or (status == ModelStatus.GRADUATED and model.status == ModelStatus.ENABLED):
        _require(user, Capability.MANAGE_PRODUCTION_MODELS, ENABLE_REFUSAL)
    with transaction.atomic():
        locked = MLModel.objects.select_for_update().get(pk=model.pk)
        if locked.is_active_prod:
            _require(user, Capability.MANAGE_PRODUCTION_MODELS, "Only super_admins retire the production model.")
        if (
            locked.status == ModelStatus.CANDIDATE
            and status != ModelStatus.ARCHIVED
            and features_of(locked.feature_schema_version) is None
        ):
            raise DomainError(
                f"The feature builder does not provide feature schema {locked.feature_schema_version}: this model "
                "cannot leave CANDIDATE (archive it, or upload one trained on a schema the builder knows).",
                code="unknown_feature_schema",
            )
        before = locked.status
        locked.move_to(status)
        now = timezone.now()
        deactivated = False
        if status == ModelStatus.GRADUATED and before == ModelStatus.TESTING:
            locked.graduated_at = now
        if status == ModelStatus.ENABLED:
            locked.deployed_at = now
        if status == ModelStatus.ARCHIVED:
            locked.archived_at = now
        if locked.is_active_prod and status != ModelStatus.ENABLED:
            locked.is_active_prod, deactivated = False, True
        locked.save()
        _record(locked, user=user, before=before, note=note, deactivated=deactivated)
    return locked


def model_activate(*, user, model: MLModel, note: str = "") -> MLModel:
    """Make an ENABLED model the one active production model (the previous one stays ENABLED, inactive)."""
    _require(user, Capability.MANAGE_PRODUCTION_MODELS, ENABLE_REFUSAL)
    with transaction.atomic():
        # Every enabled model, in one order: concurrent activations queue here instead of racing.
        enabled = {
            m.pk: m for m in MLModel.objects.select_for_update().filter(status=ModelStatus.ENABLED).order_by("pk")
        }
        target = enabled.get(model.pk)
        if target is None:
            current = MLModel.objects.filter(pk=model.pk).values_list("status", flat=True).first()
            raise Conflict(f"Only an enabled model can be the production model; this one is {current}.")
        if target.is_active_prod:
            return target
        for other in enabled.values():
            if other.is_active_prod:
                MLModel.objects.filter(pk=other.pk).update(is_active_prod=False)
                _record(other, user=user, before=other.status, note=f"replaced by {target}", deactivated=True)
        MLModel.objects.filter(pk=target.pk).update(is_active_prod=True, deployed_at=timezone.now())
        target.is_active_prod = True
        _record(target, user=user, before=target.status, note=note, activated=True)
    logger.info("model %s is the production model (by user %s)", target, user.pk)
    return target


def active_production_model() -> MLModel | None:
    return MLModel.objects.filter(is_active_prod=True).first()


# --- loading ----------------------------------------------------------------------------------------------

_sessions: dict[tuple, object] = {}
_sessions_lock = threading.Lock()


def model_session(model: MLModel):
    """The onnxruntime session of the model, after checking the stored file is the one uploaded."""
    import onnxruntime

    try:
        with model.file.open("rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError, ValueError):
        raise ModelTampered(f"The file of model {model} is missing from storage: it cannot score.") from None
    digest = sha256_of(data)
    if digest != model.file_hash:
        logger.error("model %s: stored file sha256 %s, recorded %s", model.pk, digest, model.file_hash)
        raise ModelTampered(
            f"The file of model {model} is not the one uploaded (its SHA-256 differs): it does not score until "
            "it is uploaded again."
        )
    key = (model.pk, digest)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
            _sessions[key] = session
    return session


def model_score(model: MLModel, rows):
    """Crash probabilities (column 1 of `probabilities`) for a float32 matrix [n, schema width]."""
    import numpy

    session = model_session(model)
    (answer,) = session.run(["probabilities"], {session.get_inputs()[0].name: numpy.asarray(rows, dtype=numpy.float32)})
    return numpy.asarray(answer)[:, 1]


def model_predictions_record(logs) -> None:
    """Keep each model's total_predictions and avg_prediction_score current with a cycle's scored
    evaluations: one UPDATE per model, the running mean computed by the database from the old values."""
    from django.db.models import F, FloatField, Value
    from django.db.models.functions import Cast, Coalesce

    totals: dict = {}
    for log in logs:
        if log.model_id is not None and log.prediction_score is not None:
            count, total = totals.get(log.model_id, (0, 0.0))
            totals[log.model_id] = (count + 1, total + log.prediction_score)
    for model_id, (count, total) in totals.items():
        previous = Cast(F("total_predictions"), FloatField())
        MLModel.objects.filter(pk=model_id).update(
            avg_prediction_score=(Coalesce(F("avg_prediction_score"), Value(0.0)) * previous + Value(total))
            / (previous + Value(float(count))),
            total_predictions=F("total_predictions") + count,
        )
