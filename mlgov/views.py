"""The Lab's model governance pages (thin: parse, call a service, render).

- `/lab/`: every model with its lifecycle state, the production model, the moves the user may make, the
  upload form, and the 7-day comparison of the models' runs (the optimizer writes them).
- `/lab/models/<id>/`: one model: its hash, interface, track record and every move (who, when).
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import ListView

from accounts.roles import Capability, can
from spotopt.csv_export import csv_response
from spotopt.errors import DomainError, PermissionRefused
from spotopt.tenancy import CapabilityRequiredMixin, ObjectActionView, TenantObjectMixin, TenantScopedMixin

from . import services
from .forms import ModelMoveForm, ModelUploadForm
from .models import MODEL_STATUS_TRANSITIONS
from .presentation import comparison_chart
from .selectors import model_comparison, models_for, moves_of
from .validation import refuse_oversized

LAB_REFUSAL = "The Lab is for lab users, admins and super_admins."


def next_moves(user, model) -> list[str]:
    """The statuses the user may move the model to: the transition table, then the role's rules (as
    services.model_move applies them)."""
    allowed = sorted(MODEL_STATUS_TRANSITIONS.allowed(model.status))
    if can(user, Capability.MANAGE_PRODUCTION_MODELS):
        return allowed
    if model.is_active_prod:
        return []
    return [s for s in allowed if s in services.LAB_CEILING and not (s == "GRADUATED" and model.status == "ENABLED")]


def render_lab_home(request, *, upload_form=None, status=200):
    user = request.user
    models = list(models_for(user))
    comparison = model_comparison(days=7)
    context = {
        "title": "Lab: models",
        "rows": [{"model": m, "moves": next_moves(user, m)} for m in models],
        "upload_form": upload_form or ModelUploadForm(),
        "can_activate": can(user, Capability.MANAGE_PRODUCTION_MODELS),
        "comparison": comparison,
        "comparison_chart": comparison_chart(comparison),
        "active": next((m for m in models if m.is_active_prod), None),
    }
    return render(request, "mlgov/lab_home.html", context, status=status)


class LabHomeView(CapabilityRequiredMixin, View):
    required_capability = Capability.USE_LAB
    capability_refusal = LAB_REFUSAL

    def get(self, request):
        return render_lab_home(request)


class ModelUploadView(CapabilityRequiredMixin, View):
    required_capability = Capability.USE_LAB
    capability_refusal = LAB_REFUSAL

    def post(self, request):
        form = ModelUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                refuse_oversized(data["file"].size)
                model = services.model_upload(
                    user=request.user,
                    name=data["name"],
                    version=data["version"],
                    feature_schema_version=data["feature_schema_version"],
                    data=data["file"].read(),
                    description=data["description"],
                )
            except PermissionRefused as error:
                raise PermissionDenied(error.message) from None
            except DomainError as error:
                form.add_domain_error(error)
            else:
                messages.success(request, f"Model {model} uploaded as a candidate (SHA-256 {model.file_hash[:12]}…).")
                return redirect("lab_model_detail", pk=model.pk)
        return render_lab_home(request, upload_form=form, status=400)


class ModelDetailView(TenantObjectMixin, View):
    selector = models_for
    required_capability = Capability.USE_LAB
    capability_refusal = LAB_REFUSAL

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not can(request.user, Capability.USE_LAB):
            raise PermissionDenied(LAB_REFUSAL)  # the Lab is closed to customers: 403 before any lookup
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, pk):
        model = self.get_object()
        context = {
            "title": f"Model {model}",
            "model": model,
            "moves": moves_of(model)[:200],
            "next_moves": next_moves(request.user, model),
            "can_activate": can(request.user, Capability.MANAGE_PRODUCTION_MODELS),
        }
        return render(request, "mlgov/model_detail.html", context)


class _ModelAction(ObjectActionView):
    selector = models_for
    required_capability = Capability.USE_LAB
    capability_refusal = LAB_REFUSAL
    detail_url_name = "lab_model_detail"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not can(request.user, Capability.USE_LAB):
            raise PermissionDenied(LAB_REFUSAL)
        return super().dispatch(request, *args, **kwargs)

    def back(self, request, model):
        target = request.POST.get("next", "")
        return redirect(target if target in (reverse("lab_home"), self.detail_url(model)) else self.detail_url(model))


class ModelMoveView(_ModelAction):
    def act(self, request, model):
        form = ModelMoveForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose the status to move the model to.")
            return self.back(request, model)
        model = services.model_move(user=request.user, model=model, **form.cleaned_data)
        messages.success(request, f"Model {model} is now {model.get_status_display().lower()}.")
        return self.back(request, model)


class ModelActivateView(_ModelAction):
    def act(self, request, model):
        model = services.model_activate(user=request.user, model=model, note=request.POST.get("note", "")[:2000])
        messages.success(request, f"Model {model} is the production model now.")
        return self.back(request, model)


# --- The experiment log -------------------------------------------------------------------------------

EXPERIMENT_CSV = [
    ("execution_time", lambda e: e.execution_time.isoformat()),
    ("account", lambda e: e.instance.account.account_name),
    ("instance_id", lambda e: e.instance.instance_id),
    ("instance_type", lambda e: e.instance.instance_type),
    ("availability_zone", lambda e: e.instance.availability_zone),
    ("decision", lambda e: e.decision),
    ("selected_instance_type", lambda e: e.selected_instance_type),
    ("selected_availability_zone", lambda e: e.selected_availability_zone),
    ("old_price_usd_hour", lambda e: "" if e.old_spot_price is None else f"{e.old_spot_price}"),
    ("new_price_usd_hour", lambda e: "" if e.new_spot_price is None else f"{e.new_spot_price}"),
    (
        "projected_saving_usd_hour",
        lambda e: "" if e.projected_hourly_savings is None else f"{e.projected_hourly_savings}",
    ),
    ("crash_probability", lambda e: "" if e.prediction_score is None else f"{e.prediction_score:.4f}"),
    ("model", lambda e: f"{e.model.name} {e.model.version}" if e.model else ""),
    ("pipeline_mode", lambda e: e.pipeline_mode),
    ("shadow", lambda e: "yes" if e.is_shadow_run else "no"),
    ("reason", lambda e: e.decision_reason or e.error_message),
]


def _experiments(request):
    from .filters import ExperimentFilterSet
    from .selectors import experiments_for

    return ExperimentFilterSet(request.GET, queryset=experiments_for(request.user), request=request)


class ExperimentListView(TenantScopedMixin, ListView):
    template_name = "mlgov/experiment_list.html"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = _experiments(self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        params = self.request.GET
        context.update(
            title="Experiments",
            filterset=self.filterset,
            filtering=any(params.get(name) for name in self.filterset.form.fields),
            clear_url=reverse("experiment_list"),
            export_url=f"{reverse('experiment_export')}?{params.urlencode()}",
        )
        return context


class ExperimentExportView(TenantScopedMixin, View):
    def get(self, request):
        return csv_response(_experiments(request).qs.iterator(chunk_size=2000), EXPERIMENT_CSV, name="experiments")


class ExperimentDetailView(TenantObjectMixin, View):
    def get_queryset(self):
        from .selectors import experiment_detail_for

        return experiment_detail_for(self.request.user)

    def get(self, request, pk):
        experiment = self.get_object()
        features = experiment.features_used or {}
        names = features.get("names") or []
        chosen = features.get("chosen") or []
        context = {
            "title": "Experiment",
            "experiment": experiment,
            "candidates": sorted(
                features.get("candidates") or [],
                key=lambda c: (bool(c.get("excluded")), c.get("price") is None, c.get("price") or 0),
            ),
            "features": list(zip(names, chosen, strict=False)),
            "features_meta": features,
            "synthetic_prices": any(
                "synthetic" in (c.get("price_source") or "") for c in features.get("candidates") or []
            ),
            "chosen_pool": (
                f"{experiment.instance.region}:{experiment.selected_availability_zone}:{experiment.selected_instance_type}"
                if experiment.selected_instance_type
                else ""
            ),
        }
        return render(request, "mlgov/experiment_detail.html", context)
