"""scripts/deploy.sh --dry-run on this machine: it checks its tools, builds the Lambda zip
and both image contexts, and prints the deploy plan without calling AWS. Bad arguments
are refused with a reason.

    .venv/bin/python -m unittest infra/tests/test_deploy_dry_run.py -v
"""

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "scripts" / "deploy.sh"
OUT = ROOT / "target" / "deploy"


def deploy(*args, timeout=1800):
    env = dict(os.environ)
    # No AWS credentials: a dry run must not need (or use) them.
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    return subprocess.run(["bash", str(DEPLOY), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


class DryRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_ = deploy("--dry-run", "--stack-name", "operator", "--region", "eu-west-1",
                          "--image-tag", "test-1", "--param", "LlmProvider=anthropic")
        sys.stderr.write(cls.run_.stdout[-3000:])

    def test_it_succeeds_and_prints_the_plan(self):
        r = self.run_
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = r.stdout
        self.assertIn("Dry run: deploy plan for stack 'operator' in eu-west-1", out)
        for tool in ("cargo", "aws", "sam", "docker", "cargo-lambda"):
            self.assertRegex(out, rf"\n  {tool} +\S")
        deploys = [line for line in out.splitlines()
                   if line.startswith("  $ aws cloudformation deploy") or line.startswith("  $ sam deploy")]
        self.assertEqual(len(deploys), 2, out)
        self.assertIn("ImageTag=test-1 LlmProvider=anthropic WorkerDesiredCount=0 WorkerMinCount=0", deploys[0])
        self.assertNotIn("WorkerDesiredCount", deploys[1])
        pushes = [line for line in out.splitlines() if "docker buildx build --platform linux/arm64" in line]
        self.assertEqual(len(pushes), 2, out)
        self.assertIn("target/deploy/images/worker.tar", pushes[0])
        self.assertIn("target/deploy/images/instance.tar", pushes[1])
        self.assertIn("get-secret-value", out)
        self.assertIn("delete-stack --stack-name operator", out)
        self.assertIn("nothing deployed", out)

    def test_the_lambda_zip_holds_the_api_as_bootstrap(self):
        with zipfile.ZipFile(OUT / "api.zip") as z:
            (info,) = z.infolist()
            self.assertEqual(info.filename, "bootstrap")
            self.assertEqual((info.external_attr >> 16) & 0o777, 0o755)
            data = z.read(info)
        self.assertEqual(data[:4], b"\x7fELF")
        with tempfile.TemporaryDirectory() as d:
            path = pathlib.Path(d) / "bootstrap"
            path.write_bytes(data)
            path.chmod(0o755)
            # The real API binary: with no configuration it names what is missing.
            r = subprocess.run([str(path)], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("OPERATOR_TABLE must be set", r.stderr)

    def test_image_contexts(self):
        for name, crate in (("worker", "worker/src/main.rs"), ("instance", "crates/instance/src/main.rs")):
            with tarfile.open(OUT / "images" / f"{name}.tar") as tar:
                names = tar.getnames()
                dockerfile = tar.extractfile("Dockerfile").read()
            self.assertEqual(dockerfile, (ROOT / "infra" / "docker" / f"{name}.Dockerfile").read_bytes())
            for needed in ("Cargo.toml", "Cargo.lock", crate, "crates/core/src/lib.rs"):
                self.assertIn(needed, names, name)
            for n in names:
                self.assertFalse(n.startswith(("target/", ".venv/", ".git/")) or "node_modules/" in n, n)

    def test_contexts_are_reproducible(self):
        with tempfile.TemporaryDirectory() as d:
            digests = []
            for i in range(2):
                out = pathlib.Path(d) / f"{i}.tar"
                subprocess.run([sys.executable, str(ROOT / "infra/tools/package.py"), "context",
                                str(ROOT / "infra/docker/worker.Dockerfile"), str(out)],
                               check=True, capture_output=True)
                digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
            self.assertEqual(digests[0], digests[1])


class BadArguments(unittest.TestCase):
    def refused(self, *args, says):
        r = deploy(*args, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(says, r.stderr)

    def test_stack_name(self):
        self.refused("--dry-run", "--stack-name", "Bad_Name", "--region", "eu-west-1", says="--stack-name Bad_Name")

    def test_region(self):
        self.refused("--dry-run", "--region", "nowhere", says="--region nowhere is not an AWS region")

    def test_unknown_option(self):
        self.refused("--frobnicate", says="unknown option: --frobnicate")

    def test_param_shape(self):
        self.refused("--dry-run", "--region", "eu-west-1", "--param", "nonsense", says="expected KEY=VALUE")

    def test_missing_tools_stop_a_real_deploy(self):
        engine = shutil.which("docker") and subprocess.run(
            ["docker", "info"], capture_output=True, timeout=30).returncode == 0
        if engine:
            self.skipTest("a Docker engine answers here: a real deploy would not stop for tools")
        # A real deploy must stop before building anything, naming what it needs.
        r = deploy("--stack-name", "operator", "--region", "eu-west-1", "--image-tag", "t", timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("missing tools", r.stderr)
        self.assertIn("docker", r.stderr)
        self.assertNotIn("==> build", r.stdout)


if __name__ == "__main__":
    unittest.main()
