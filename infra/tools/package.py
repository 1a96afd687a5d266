"""Deterministic deploy artifacts (same inputs, same bytes), for scripts/deploy.sh:

    package.py zip BOOTSTRAP OUT.zip          the Lambda zip: `bootstrap`, mode 0755
    package.py context DOCKERFILE OUT.tar     an image build context: the repository's
                                              files (tracked and untracked, not ignored,
                                              not .dockerignore'd) + DOCKERFILE as ./Dockerfile

Both print one line: path, size, sha256. Timestamps, owners and order are fixed.
"""

import fnmatch
import hashlib
import io
import pathlib
import subprocess
import sys
import tarfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
EPOCH = (1980, 1, 1, 0, 0, 0)


def report(path: pathlib.Path, extra: str = "") -> None:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"{shown}  {len(data) / 1e6:.1f} MB  sha256 {digest}{extra}")


def make_zip(bootstrap: pathlib.Path, out: pathlib.Path) -> None:
    info = zipfile.ZipInfo("bootstrap", date_time=EPOCH)
    info.external_attr = (0o100755 << 16)
    info.compress_type = zipfile.ZIP_DEFLATED
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(info, bootstrap.read_bytes())
    report(out)


def dockerignore() -> list:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(name: str, patterns: list) -> bool:
    parts = name.split("/")
    for pattern in patterns:
        pattern = pattern.removeprefix("**/")
        for i in range(len(parts)):
            if fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) or fnmatch.fnmatch(parts[i], pattern):
                return True
    return False


def make_context(dockerfile: pathlib.Path, out: pathlib.Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    patterns = dockerignore()
    names = sorted(n for n in listed if n and not ignored(n, patterns) and (ROOT / n).is_file())
    out.parent.mkdir(parents=True, exist_ok=True)

    def add(tar: tarfile.TarFile, arcname: str, data: bytes, mode: int) -> None:
        info = tarfile.TarInfo(arcname)
        info.size, info.mode, info.mtime = len(data), mode, 0
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        tar.addfile(info, io.BytesIO(data))

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        add(tar, "Dockerfile", dockerfile.read_bytes(), 0o644)
        for name in names:
            path = ROOT / name
            add(tar, name, path.read_bytes(), 0o755 if path.stat().st_mode & 0o111 else 0o644)
    report(out, f"  ({len(names)} files + Dockerfile from {dockerfile.relative_to(ROOT)})")


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("zip", "context"):
        sys.exit(__doc__)
    src, out = pathlib.Path(sys.argv[2]).resolve(), pathlib.Path(sys.argv[3]).resolve()
    if sys.argv[1] == "zip":
        make_zip(src, out)
    else:
        make_context(src, out)


if __name__ == "__main__":
    main()
