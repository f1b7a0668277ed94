from django.core.management.base import BaseCommand, CommandError

from accounts.services import credentials_rotate_key


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (AWS access keys, registered Kubernetes clusters' tokens) under the "
        "newest key (the first entry of CREDENTIALS_ENCRYPTION_KEYS). Keep the old keys listed until this has run."
    )

    def handle(self, *args, **options):
        result = credentials_rotate_key()
        self.stdout.write(
            f"Key {result['key_id']}: {result['re_encrypted']} account(s) re-encrypted, "
            f"{result['already_current']} already current."
        )
        if result.get("clusters_re_encrypted"):
            self.stdout.write(f"{result['clusters_re_encrypted']} cluster token(s) re-encrypted.")
        for failure in result["failed"]:
            self.stderr.write(failure)
        if result["failed"]:
            raise CommandError(
                f"{len(result['failed'])} account(s) or cluster token(s) could not be decrypted and were left as "
                "they are: " + " | ".join(result["failed"])
            )
