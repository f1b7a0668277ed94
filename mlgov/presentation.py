"""How the optimizer's decisions and the models look on the pages."""

from spotopt.presentation import register_badges

from .choices import Decision, ModelStatus
from .models import ExperimentLog, MLModel

register_badges(
    ExperimentLog,
    {
        "decision": {
            Decision.SWITCH: "ok",
            Decision.HOLD: "",
            Decision.FALLBACK_ONDEMAND: "warn",
            Decision.RETURN_TO_SPOT: "ok",
            Decision.FAILED: "error",
        }
    },
)
register_badges(
    MLModel,
    {
        "status": {
            ModelStatus.CANDIDATE: "",
            ModelStatus.TESTING: "info",
            ModelStatus.GRADUATED: "info",
            ModelStatus.ENABLED: "ok",
            ModelStatus.ARCHIVED: "",
        }
    },
)
