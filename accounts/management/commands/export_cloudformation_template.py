from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError

from accounts import cloudformation
from spotopt import aws
from spotopt.errors import DomainError


class Command(BaseCommand):
    help = (
        "Write the CloudFormation onboarding template (the cross-account IAM role customers create). Without "
        "--external-id it is the generic template with no External ID default, to publish (e.g. on S3) and "
        "set as CLOUDFORMATION_TEMPLATE_URL, which enables the console quick-create link."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "yaml"], default="json", help="Output format (json).")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")
        parser.add_argument("--external-id", metavar="ID", help="Make ID the ExternalId parameter's default.")
        parser.add_argument(
            "--platform-principal-arn",
            metavar="ARN",
            help="The principal allowed to assume the role (default: PLATFORM_AWS_PRINCIPAL_ARN, else the "
            "platform's own AWS identity).",
        )
        parser.add_argument(
            "--role-name", metavar="NAME", help="Default role name (default: settings.CLOUDFORMATION_ROLE_NAME)."
        )

    def handle(self, *args, **options):
        render = {
            "json": cloudformation.cloudformation_template_json,
            "yaml": cloudformation.cloudformation_template_yaml,
        }[options["format"]]
        try:
            text = render(
                external_id=options["external_id"],
                platform_principal_arn=options["platform_principal_arn"] or aws.platform_principal_arn(),
                role_name=options["role_name"] or cloudformation.role_name(),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(
                "Could not find out the platform's AWS identity; set PLATFORM_AWS_PRINCIPAL_ARN or pass "
                f"--platform-principal-arn ({exc.__class__.__name__})."
            ) from exc

        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise CommandError(f"Could not write {options['output']}: {exc.strerror}.") from exc
            self.stdout.write(
                self.style.SUCCESS(f"Wrote the {options['format'].upper()} template to {options['output']}.")
            )
        else:
            self.stdout.write(text, ending="")
