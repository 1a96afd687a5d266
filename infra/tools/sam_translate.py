"""Expands infra/template.yaml (AWS SAM) into plain CloudFormation JSON, as `sam deploy`
would: used by the emulator deploy test (moto's CloudFormation has no SAM transform) and
by the lint step, so checkov also sees the resources SAM generates.

    python infra/tools/sam_translate.py [--code-uri s3://bucket/key] [--out FILE]
"""

import argparse
import json
import os
import pathlib
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"


class NoManagedPolicies:
    """The template names no AWS managed policies: nothing to look up in IAM."""

    def load(self):
        return {}


def translate(code_uri: str = "s3://operator-deploy/api.zip", template=TEMPLATE) -> dict:
    # The translator resolves ${AWS::Region} for ARNs it builds; any region will do here.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    tpl, matches = decode(str(template))
    if matches:
        raise SystemExit("cannot parse template: " + "; ".join(str(m) for m in matches))
    for resource in tpl["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri
    sam_metadata = {
        name: r["Metadata"]["checkov"]
        for name, r in tpl["Resources"].items()
        if r.get("Type", "").startswith("AWS::Serverless::") and "checkov" in r.get("Metadata", {})
    }
    out = transform(json.loads(json.dumps(tpl)), {}, NoManagedPolicies())
    # The resources SAM generates for a function (its URL, permissions) carry the checkov
    # justifications written on the function.
    for name, resource in out["Resources"].items():
        for owner, checkov in sam_metadata.items():
            if name.startswith(owner):
                resource.setdefault("Metadata", {})["checkov"] = checkov
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-uri", default="s3://operator-deploy/api.zip")
    parser.add_argument("--out", default="-")
    args = parser.parse_args()
    text = json.dumps(translate(args.code_uri), indent=1, sort_keys=True)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        pathlib.Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
