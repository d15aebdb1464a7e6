"""`gridgov privacy …`: keys and data-subject requests.

  init-keys                 create the local key file (var/keys.json) if no keys are configured
  new-master-key            add a master key version to the key file and make it current
  rotate-keys [--reencrypt] re-wrap every data key under the current master version (and
                            with --reencrypt re-seal every value under the current cipher)
  report  --phone N | --id-number N [--out F]   everything held about a person, as JSON (audited)
  anonymise --phone N | --id-number N --yes     remove a person, keep the statistics (audited)
  self-test                 run the crypto known-answer tests
"""

import base64
import json
import os

from django.core.management.base import BaseCommand, CommandError

from gridgov.commandutils import domain_errors, write_output
from gridgov.privacy import crypto, keys, vault
from gridgov.privacy.services import audit


def _selector(options) -> tuple[str, str]:
    if bool(options.get("phone")) == bool(options.get("id_number")):
        raise CommandError("请给出 --phone 或 --id-number 之一 (give exactly one of --phone, --id-number)")
    return ("phone", options["phone"]) if options.get("phone") else ("id_number", options["id_number"])


class Command(BaseCommand):
    help = "Keys and data-subject requests for personal data (个人信息保护)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("init-keys", help="create the local key file if none is configured")
        sub.add_parser("new-master-key", help="add a master key version to the key file and make it current")
        rotate = sub.add_parser("rotate-keys", help="re-wrap data keys under the current master key version")
        rotate.add_argument("--reencrypt", action="store_true", help="also re-seal every value under the current cipher")
        sub.add_parser("self-test", help="run the crypto known-answer tests")
        for name, text in (("report", "print everything held about a person (JSON)"),
                           ("anonymise", "remove a person, keeping statistics")):
            p = sub.add_parser(name, help=text)
            p.add_argument("--phone")
            p.add_argument("--id-number", dest="id_number")
            if name == "report":
                p.add_argument("--out", help="write the JSON to this file")
            else:
                p.add_argument("--reason", default="", help="why (recorded in the audit log)")
                p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")

    @domain_errors
    def handle(self, *args, action, **options):
        getattr(self, "do_" + action.replace("-", "_"))(options)

    def do_init_keys(self, options):
        path, created = keys.ensure_key_file()
        if os.environ.get("GRIDGOV_MASTER_KEYS"):
            self.stdout.write("keys come from GRIDGOV_MASTER_KEYS; no key file needed")
        else:
            self.stdout.write(f"{'created' if created else 'kept'} key file {path}")

    def do_new_master_key(self, options):
        if os.environ.get("GRIDGOV_MASTER_KEYS"):
            raise CommandError("keys come from GRIDGOV_MASTER_KEYS: add a version there and set GRIDGOV_MASTER_KEY_VERSION")
        path = keys.key_file_path()
        if not path.exists():
            raise CommandError(f"no key file at {path}; run `gridgov privacy init-keys`")
        data = json.loads(path.read_text())
        version = max(int(v) for v in data["master_keys"]) + 1
        data["master_keys"][str(version)] = base64.b64encode(os.urandom(keys.KEY_BYTES)).decode()
        data["current"] = version
        keys.write_key_file(path, data)
        keys.reset()
        self.stdout.write(f"master key version {version} is current; run `gridgov privacy rotate-keys`, "
                          "then remove the older versions from the file")

    def do_rotate_keys(self, options):
        keys.reset()
        rewrapped = keys.rewrap_all()
        resealed = vault.reencrypt_all() if options["reencrypt"] else 0
        audit(actor=None, action="pi.rotate_keys", object_type="privacy.subjectkey", object_id="",
              data={"master_version": keys.ring().current, "rewrapped": rewrapped, "resealed_rows": resealed})
        self.stdout.write(f"re-wrapped {rewrapped} data keys under master version {keys.ring().current}; re-sealed {resealed} rows")

    def do_self_test(self, options):
        for name in crypto.self_test():
            self.stdout.write(f"ok {name}")

    def do_report(self, options):
        kind, value = _selector(options)
        result = vault.report(actor=None, kind=kind, value=value)
        write_output(self, json.dumps(result, ensure_ascii=False, indent=1, default=str), options.get("out"))

    def do_anonymise(self, options):
        kind, value = _selector(options)
        if not options["yes"]:
            raise CommandError("匿名化不可撤销，请加 --yes 确认 (anonymising cannot be undone: add --yes)")
        result = vault.anonymise(actor=None, kind=kind, value=value, reason=options["reason"])
        self.stdout.write(f"anonymised {result['rows']} rows; destroyed {result['keys_destroyed']} data keys")
