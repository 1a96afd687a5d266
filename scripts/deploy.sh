#!/usr/bin/env bash
# Deploys Operator into an AWS account: builds the API function (an arm64 Lambda zip) and
# the worker and instance images, then deploys infra/template.yaml.
#
#   scripts/deploy.sh --stack-name operator --region eu-west-1 [options]
#
# Options:
#   --stack-name NAME   stack name, also the prefix of resource names (default: operator)
#   --region REGION     default: $AWS_REGION or $AWS_DEFAULT_REGION
#   --image-tag TAG     image tag (default: the commit, plus a timestamp if the tree is dirty)
#   --s3-bucket NAME    artifact bucket when deploying with the AWS CLI rather than SAM
#                       (default: operator-artifacts-<account>-<region>, created if missing)
#   --param KEY=VALUE   a template parameter, repeatable: --param LlmProvider=anthropic
#   --dry-run           build the artifacts here and print the plan; call no AWS API
#   -h, --help
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

stack=operator
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
tag=""
bucket=""
dry=false
params=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stack-name) [ $# -ge 2 ] || die "--stack-name needs a value"; stack="$2"; shift 2 ;;
    --region) [ $# -ge 2 ] || die "--region needs a value"; region="$2"; shift 2 ;;
    --image-tag) [ $# -ge 2 ] || die "--image-tag needs a value"; tag="$2"; shift 2 ;;
    --s3-bucket) [ $# -ge 2 ] || die "--s3-bucket needs a value"; bucket="$2"; shift 2 ;;
    --param) [ $# -ge 2 ] || die "--param needs KEY=VALUE"; params+=("$2"); shift 2 ;;
    --dry-run) dry=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done
[[ "$stack" =~ ^[a-z][a-z0-9-]{0,30}$ ]] ||
  die "--stack-name $stack: use lowercase letters, digits and hyphens, starting with a letter (at most 31; it names the ECR repositories and the schedule group)"
[ -n "$region" ] || die "--region is required (or set AWS_REGION)"
[[ "$region" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]$ ]] || die "--region $region is not an AWS region name"
for p in ${params[@]+"${params[@]}"}; do
  [[ "$p" =~ ^[A-Za-z0-9]+=.*$ ]] || die "--param $p: expected KEY=VALUE"
  case "${p%%=*}" in ImageTag) die "--param ImageTag: use --image-tag" ;; esac
done
if [ -z "$tag" ]; then
  tag="git-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  if [ -n "$(git status --porcelain 2>/dev/null)" ]; then tag="$tag-dirty-$(date -u +%Y%m%d%H%M%S)"; fi
fi
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--image-tag $tag is not a valid image tag"

out=target/deploy
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
have "$python" || die "python3 is required (it packages the artifacts)"

if $dry; then
  echo "Dry run: deploy plan for stack '$stack' in $region (builds here; calls no AWS API)."
fi

# ---------------------------------------------------------------- tools
step "tools"
host_arch=$(uname -m)
missing=()
report() { printf '  %-14s %s\n' "$1" "$2"; }
if have cargo; then report cargo "$(cargo --version)"; else missing+=("cargo: install Rust from https://rustup.rs"); report cargo MISSING; fi
if have aws; then report aws "$(aws --version 2>&1 | head -1)"; else missing+=("aws: install the AWS CLI v2, https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"); report aws MISSING; fi
if have sam; then
  deployer=sam
  report sam "$(sam --version 2>&1 | head -1) (deploys the template)"
else
  deployer=aws
  report sam "not found: the AWS CLI deploys instead (aws cloudformation package/deploy, needs an S3 bucket)"
fi
docker_ok=false
if have docker && docker buildx version >/dev/null 2>&1; then
  if docker info >/dev/null 2>&1; then
    docker_ok=true
    report docker "$(docker --version) with buildx"
  else
    report docker "client found, but no Docker engine answers"
  fi
else
  report docker "docker with buildx not found"
fi
$docker_ok || missing+=("docker with buildx and a running engine: builds the arm64 worker and instance images (https://docs.docker.com/engine/install/)")
if cargo lambda --version >/dev/null 2>&1; then
  lambda_builder=cargo-lambda
  report cargo-lambda "$(cargo lambda --version) (builds the arm64 function)"
elif $docker_ok; then
  lambda_builder=docker
  report cargo-lambda "not found: docker buildx builds the arm64 function (infra/docker/lambda.Dockerfile)"
else
  lambda_builder=none
  report cargo-lambda "not found (pip install cargo-lambda, or use docker buildx)"
  missing+=("cargo-lambda or docker buildx: cross-builds the arm64 API function")
fi

if [ ${#missing[@]} -gt 0 ]; then
  if $dry; then
    echo "  A real deploy from this machine would stop here; it needs:"
    printf '    - %s\n' "${missing[@]}"
  else
    printf 'deploy: missing tools:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------- build
step "build: the API function (Lambda zip)"
mkdir -p "$out/lambda"
if ! $dry && [ "$lambda_builder" = cargo-lambda ]; then
  cargo lambda build --profile lambda --locked --arm64 -p operator-api-function --lambda-dir "$out/cargo-lambda"
  cp "$out/cargo-lambda/api/bootstrap" "$out/lambda/bootstrap"
elif ! $dry && [ "$lambda_builder" = docker ]; then
  docker buildx build --platform linux/arm64 -f infra/docker/lambda.Dockerfile \
    --target export --output "type=local,dest=$out/lambda" .
else
  # Dry run: the same profile, for this machine's architecture (arm64 cross-compilation
  # needs cargo-lambda or docker buildx).
  cargo build --profile lambda --locked -p operator-api-function
  cp target/lambda/api "$out/lambda/bootstrap"
  echo "  built for $host_arch (this machine); a deploy builds arm64 with ${lambda_builder/none/cargo-lambda or docker buildx}"
fi
"$python" infra/tools/package.py zip "$out/lambda/bootstrap" "$out/api.zip"

step "build: image contexts (worker, instance)"
"$python" infra/tools/package.py context infra/docker/worker.Dockerfile "$out/images/worker.tar"
"$python" infra/tools/package.py context infra/docker/instance.Dockerfile "$out/images/instance.tar"

if [ -x .venv/bin/cfn-lint ]; then
  step "template"
  .venv/bin/cfn-lint infra/template.yaml && echo "  cfn-lint: infra/template.yaml passes"
fi

# ---------------------------------------------------------------- deploy
overrides=("ImageTag=$tag" ${params[@]+"${params[@]}"})

# run CMD...: runs it, or on a dry run prints it.
run() {
  if $dry; then
    local arg line='  $'
    for arg in "$@"; do
      if [[ "$arg" =~ ^[A-Za-z0-9_./:=,@%+\<\>-]+$ ]]; then line+=" $arg"; else line+=" $(printf '%q' "$arg")"; fi
    done
    printf '%s\n' "$line"
  else
    "$@"
  fi
}

deploy_stack() {
  if [ "$deployer" = sam ]; then
    run sam deploy --template-file infra/template.yaml --stack-name "$stack" --region "$region" \
      --resolve-s3 --s3-prefix "$stack" --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
      --no-confirm-changeset --no-fail-on-empty-changeset --parameter-overrides "$*"
  else
    run aws cloudformation package --template-file infra/template.yaml --region "$region" \
      --s3-bucket "$bucket" --s3-prefix "$stack" --output-template-file "$out/packaged.yaml"
    run aws cloudformation deploy --template-file "$out/packaged.yaml" --stack-name "$stack" \
      --region "$region" --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
      --no-fail-on-empty-changeset --parameter-overrides "$@"
  fi
}

output() {
  aws cloudformation describe-stacks --stack-name "$stack" --region "$region" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

push_image() { # name repository-uri
  local name=$1 uri=$2
  if ! $dry && aws ecr describe-images --region "$region" --repository-name "${uri#*/}" \
    --image-ids "imageTag=$tag" >/dev/null 2>&1; then
    echo "  $uri:$tag is already pushed"
    return
  fi
  if $dry; then
    printf '  $ docker buildx build --platform linux/arm64 --provenance=false -t %s --push - < %s\n' \
      "$uri:$tag" "$out/images/$name.tar"
  else
    docker buildx build --platform linux/arm64 --provenance=false -t "$uri:$tag" --push - <"$out/images/$name.tar"
  fi
}

if $dry; then
  step "deploy (the commands a deploy runs; <Name> is a stack output)"
  account="<account>"
  [ -n "$bucket" ] || bucket="operator-artifacts-$account-$region"
  echo "  # a first deploy starts no workers: their images are not pushed yet"
  deploy_stack "${overrides[@]}" WorkerDesiredCount=0 WorkerMinCount=0
  run aws ecr get-login-password --region "$region"
  echo "  (piped to) docker login --username AWS --password-stdin $account.dkr.ecr.$region.amazonaws.com"
  push_image worker "<WorkerRepositoryUri>"
  push_image instance "<InstanceRepositoryUri>"
  deploy_stack "${overrides[@]}"
  step "then"
  echo "  API:         <ApiUrl>"
  echo "  First key:   echo \"ck_live_\$(aws secretsmanager get-secret-value --region $region --secret-id <BootstrapKeySecretArn> --query SecretString --output text)\""
  echo "  Teardown:    aws cloudformation delete-stack --stack-name $stack --region $region"
  echo
  echo "Dry run done: artifacts in $out/ (api.zip, images/worker.tar, images/instance.tar); nothing deployed."
  exit 0
fi

step "deploy"
account=$(aws sts get-caller-identity --region "$region" --query Account --output text) ||
  die "no AWS credentials: run 'aws configure' or 'aws sso login' (or set AWS_PROFILE)"
echo "  account $account, region $region, stack $stack, images :$tag"
if [ "$deployer" = aws ]; then
  [ -n "$bucket" ] || bucket="operator-artifacts-$account-$region"
  if ! aws s3api head-bucket --bucket "$bucket" --region "$region" >/dev/null 2>&1; then
    echo "  creating artifact bucket $bucket"
    if [ "$region" = us-east-1 ]; then
      aws s3api create-bucket --bucket "$bucket" --region "$region" >/dev/null
    else
      aws s3api create-bucket --bucket "$bucket" --region "$region" \
        --create-bucket-configuration "LocationConstraint=$region" >/dev/null
    fi
    aws s3api put-public-access-block --bucket "$bucket" --region "$region" \
      --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
  fi
fi

if ! aws cloudformation describe-stacks --stack-name "$stack" --region "$region" >/dev/null 2>&1; then
  echo "  first deploy: creating the stack with no workers (their images are not pushed yet)"
  deploy_stack "${overrides[@]}" WorkerDesiredCount=0 WorkerMinCount=0
fi
aws ecr get-login-password --region "$region" |
  docker login --username AWS --password-stdin "$account.dkr.ecr.$region.amazonaws.com" >/dev/null
push_image worker "$(output WorkerRepositoryUri)"
push_image instance "$(output InstanceRepositoryUri)"
deploy_stack "${overrides[@]}"

step "done"
echo "  API:        $(output ApiUrl)"
echo "  First key:  the first worker creates the default account; print its key with"
echo "    echo \"ck_live_\$(aws secretsmanager get-secret-value --region $region --secret-id $(output BootstrapKeySecretArn) --query SecretString --output text)\""
echo "  Try it:     curl -H \"Authorization: Bearer <key>\" $(output ApiUrl)api/instances"
echo "  Teardown:   aws cloudformation delete-stack --stack-name $stack --region $region (see README: Deploy to AWS)"
