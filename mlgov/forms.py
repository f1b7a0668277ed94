from django import forms

from accounts.forms import DomainErrorFormMixin

from .choices import ModelStatus
from .features import CURRENT_FEATURE_SCHEMA, FEATURE_SCHEMAS


class ModelUploadForm(DomainErrorFormMixin, forms.Form):
    domain_error_fields = {"model_refused": "file", "invalid_model": "name"}

    name = forms.CharField(max_length=255, help_text="Unique, e.g. risk-gbm-2026-12.")
    version = forms.CharField(max_length=64)
    feature_schema_version = forms.ChoiceField(
        label="Feature schema",
        choices=[(v, f"{v} ({len(f)} features)") for v, f in FEATURE_SCHEMAS.items()],
        initial=CURRENT_FEATURE_SCHEMA,
        help_text="What the model was trained on (mlgov/features.py documents each feature).",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    file = forms.FileField(
        label="ONNX file",
        help_text="Checked before it is stored: a self-contained ONNX model with standard operators only.",
    )


class ModelMoveForm(forms.Form):
    status = forms.ChoiceField(choices=ModelStatus.choices)
    note = forms.CharField(max_length=2000, required=False)
