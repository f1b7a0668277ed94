"""Forms of the fleet pages: the Lab controls of a LAB-environment instance.

The form checks shape only; fleet.services.instance_lab_update decides everything else (role, environment,
whether the model version may be assigned).
"""

from django import forms

from .choices import PipelineMode


def model_version_choices(*, current: str = "") -> list[tuple[str, str]]:
    """The versions that may be assigned (non-archived models), newest upload first, one entry a version;
    the instance's current version stays listed even when its model was archived since."""
    from mlgov.choices import ModelStatus
    from mlgov.models import MLModel

    choices = [("", "None assigned")]
    seen = {""}
    rows = (
        MLModel.objects.exclude(status=ModelStatus.ARCHIVED)
        .order_by("-uploaded_at")
        .values_list("version", "name", "status")
    )
    for version, name, status in rows:
        if version not in seen:
            seen.add(version)
            choices.append((version, f"{version} · {name} ({ModelStatus(status).label.lower()})"))
    if current not in seen:
        choices.append((current, f"{current} (current; no longer assignable)"))
    return choices


class InstanceLabForm(forms.Form):
    pipeline_mode = forms.ChoiceField(
        label="Pipeline mode",
        choices=PipelineMode.choices,
        widget=forms.RadioSelect,
        help_text="Which optimizer pipeline evaluates this instance.",
    )
    is_shadow_mode = forms.BooleanField(
        label="Shadow mode: evaluate and log decisions, never act on them",
        required=False,
    )
    assigned_model_version = forms.ChoiceField(
        label="Assigned model version",
        required=False,
        help_text="The model that scores this instance. Archived models cannot be assigned.",
    )

    def __init__(self, *args, current_version: str = "", **kwargs):
        kwargs.setdefault("auto_id", "lab-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["assigned_model_version"].choices = model_version_choices(current=current_version)

    @classmethod
    def for_instance(cls, instance, data=None):
        initial = {
            "pipeline_mode": instance.pipeline_mode,
            "is_shadow_mode": instance.is_shadow_mode,
            "assigned_model_version": instance.assigned_model_version,
        }
        return cls(data, initial=initial, current_version=instance.assigned_model_version)

    def changes(self, instance) -> dict:
        """The cleaned values that differ from the instance's (the service is called with these only)."""
        return {name: value for name, value in self.cleaned_data.items() if getattr(instance, name) != value}
