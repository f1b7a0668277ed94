from django import forms

from .serializers import NOTE_MAX_LENGTH, REASON_MAX_LENGTH


class PoolLiftForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "Why the pool is safe again (kept and shown)"}),
    )


class HeldDecisionForm(forms.Form):
    note = forms.CharField(max_length=NOTE_MAX_LENGTH, required=False, widget=forms.TextInput())
