"""The form that registers a self-managed cluster (the token field never shows what was typed)."""

from django import forms

from accounts.forms import DomainErrorFormMixin


class ClusterRegisterForm(DomainErrorFormMixin, forms.Form):
    domain_error_fields = {
        "invalid_name": "name",
        "duplicate_cluster": "name",
        "invalid_endpoint": "endpoint",
        "invalid_ca": "ca_pem",
        "invalid_token": "token",
    }

    account = forms.ModelChoiceField(queryset=None, label="AWS account", empty_label=None)
    name = forms.CharField(
        label="Cluster name",
        max_length=100,
        help_text="As its nodes' kubernetes.io/cluster/<name> or cluster-name tag says: that is how spotopt "
        "knows which instances are its nodes.",
    )
    endpoint = forms.CharField(label="API server URL", max_length=500, help_text="https://host[:port]")
    ca_pem = forms.CharField(
        label="CA certificate (PEM)",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        help_text="The certificate authority that signed the API server's certificate (kubeconfig's "
        "certificate-authority-data, base64-decoded).",
    )
    token = forms.CharField(
        label="Service-account token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Bind its service account to the ClusterRole below.",
    )

    def __init__(self, *args, accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts
