"""Forms of the approvals app: the decision forms of the detail page and of the admin's reject action.

They check shape only (a reject needs a comment); the services decide everything else.
"""

from django import forms

COMMENT_MAX_LENGTH = 2000
COMMENT_REQUIRED = "Say why you reject the request: a comment is required."


class ApproveForm(forms.Form):
    comment = forms.CharField(
        label="Comment (optional)",
        required=False,
        help_text="Recorded with the decision.",
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "approve-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RejectForm(forms.Form):
    comment = forms.CharField(
        label="Why reject it?",
        max_length=COMMENT_MAX_LENGTH,
        help_text="Required. The requester reads it.",
        error_messages={"required": COMMENT_REQUIRED},
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reject-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
