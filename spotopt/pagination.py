"""The API's pagination (REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]). Its own module: spotopt.api imports
drf-spectacular, which imports DRF's generic views, which import the pagination class from the settings."""

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's page numbers; the schema says they start at 1 (0, or a page past the end, is a 404)."""

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
        return parameters
