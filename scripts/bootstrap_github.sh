#!/usr/bin/env bash
# One-time GitHub setup of the release path; safe to re-run (looks up, then creates or updates).
#
#   scripts/bootstrap_github.sh --github-repo my-user/vertex-mnist-cicd [--reviewer LOGIN]... [--dry-run]
#
# It creates, through `gh api` (logged in as a repository admin: `gh auth login`):
#   - a tag ruleset "release tags": only repository admins and maintainers may create, move or delete v* tags,
#     so only they can start release.yml;
#   - a branch ruleset "main branch": main changes only through a pull request with an approving review (not
#     the last pusher's own) and pr.yml's checks passed, and is never force-pushed or deleted; nobody bypasses
#     it, since the release guard and the training identity trust whatever is on main;
#   - the `production` environment: deployments wait for a required reviewer (each --reviewer, default the
#     logged-in user) other than whoever pushed the tag (prevent_self_review: name a second reviewer, or
#     nobody can approve your own tags) and only v* tags may deploy to it, so release.yml and rollback.yml
#     (run from a tag) are the only jobs that get it, and with it the deploying identity
#     scripts/bootstrap_gcp.sh set up.
# GITHUB_REPO and REVIEWERS (space-separated logins) may come from the environment. --dry-run prints the plan
# and the gh commands (on stderr) and changes nothing. Rulesets and required reviewers on private
# repositories need a paid GitHub plan; public repositories have them on every plan.
set -euo pipefail

usage() {
  sed -n '2,20s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

fail() {
  echo "bootstrap_github: $*" >&2
  exit 2
}

DRY_RUN=${DRY_RUN:-0}
read -r -a REVIEWERS <<<"${REVIEWERS:-}"
[[ $# -eq 0 && -z ${GITHUB_REPO:-} ]] && usage
while [[ $# -gt 0 ]]; do
  case "$1" in
    --github-repo) GITHUB_REPO=${2:?--github-repo needs a value}; shift 2 ;;
    --reviewer) REVIEWERS+=("${2:?--reviewer needs a login}"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage ;;
    *) fail "unknown argument: $1 (see --help)" ;;
  esac
done

GITHUB_REPO=${GITHUB_REPO:-}
[[ $GITHUB_REPO =~ ^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$ ]] || fail "GITHUB_REPO '$GITHUB_REPO' is not owner/name"
for login in "${REVIEWERS[@]}"; do
  [[ $login =~ ^[A-Za-z0-9-]{1,39}$ ]] || fail "reviewer '$login' is not a GitHub login"
done
if [[ $DRY_RUN != 1 ]] && ! command -v gh >/dev/null; then
  fail "the GitHub CLI gh is not installed: https://cli.github.com"
fi

RULESET="release tags"
ENVIRONMENT=production
# Rulesets API: RepositoryRole ids 5 = admin, 2 = maintain (https://docs.github.com/en/rest/repos/rules).
RULESET_JSON='{"name": "release tags", "target": "tag", "enforcement": "active",
  "conditions": {"ref_name": {"include": ["refs/tags/v*"], "exclude": []}},
  "rules": [{"type": "creation"}, {"type": "update"}, {"type": "deletion"}, {"type": "non_fast_forward"}],
  "bypass_actors": [{"actor_type": "RepositoryRole", "actor_id": 5, "bypass_mode": "always"},
                    {"actor_type": "RepositoryRole", "actor_id": 2, "bypass_mode": "always"}]}'

MAIN_RULESET="main branch"
# pr.yml's job names, which are its check runs' names (tests/scripts/test_bootstrap_github.py keeps them equal).
# integration_id 15368 is the GitHub Actions app: a status another app or token posts does not satisfy them.
# Rule parameters: https://docs.github.com/en/rest/repos/rules (pull_request, required_status_checks).
PR_CHECKS=("Accuracy gate" "Lint" "Serving image" "Tests" "Trainer image")
checks=$(printf '{"context": "%s", "integration_id": 15368},' "${PR_CHECKS[@]}")
MAIN_RULESET_JSON='{"name": "main branch", "target": "branch", "enforcement": "active",
  "conditions": {"ref_name": {"include": ["refs/heads/main"], "exclude": []}},
  "rules": [
    {"type": "pull_request", "parameters": {"required_approving_review_count": 1,
      "dismiss_stale_reviews_on_push": true, "require_last_push_approval": true,
      "require_code_owner_review": false, "required_review_thread_resolution": false}},
    {"type": "required_status_checks", "parameters": {"strict_required_status_checks_policy": true,
      "required_status_checks": ['"${checks%,}"']}},
    {"type": "non_fast_forward"}, {"type": "deletion"}],
  "bypass_actors": []}'

# gh api ARGS... [< JSON]: the call, or in a dry run the command as it would run (on stderr).
api() {
  if [[ $DRY_RUN == 1 ]]; then
    echo "+ gh api $(printf '%q ' "$@")<<< $(tr -s ' \n' ' ')" >&2
  else
    gh api "$@"
  fi
}

note() {
  if [[ $DRY_RUN == 1 ]]; then echo "plan:    $1"; else echo "done:    $1"; fi
}

# The GitHub user id of each reviewer (the environment API takes ids).
reviewer_ids() {
  local login
  for login in "${REVIEWERS[@]}"; do
    if [[ $DRY_RUN == 1 ]]; then echo "USER_ID_OF_$login"; else gh api "users/$login" --jq .id </dev/null; fi
  done
}

echo "bootstrap_github: repo=$GITHUB_REPO dry_run=$DRY_RUN"

# ruleset NAME JSON: create the ruleset, or update the one of that name (re-running changes nothing twice).
ruleset() {
  local existing=""
  if [[ $DRY_RUN != 1 ]]; then
    existing=$(gh api "repos/$GITHUB_REPO/rulesets" --jq ".[] | select(.name == \"$1\") | .id" </dev/null)
  fi
  if [[ -n $existing ]]; then
    api --method PUT "repos/$GITHUB_REPO/rulesets/$existing" --input - >/dev/null <<<"$2"
  else
    api --method POST "repos/$GITHUB_REPO/rulesets" --input - >/dev/null <<<"$2"
  fi
}

echo "bootstrap_github: repo=$GITHUB_REPO dry_run=$DRY_RUN"

ruleset "$RULESET" "$RULESET_JSON"
note "tag ruleset '$RULESET': only admins and maintainers create, move or delete v* tags"

ruleset "$MAIN_RULESET" "$MAIN_RULESET_JSON"
check_list=$(printf '%s, ' "${PR_CHECKS[@]}")
note "branch ruleset '$MAIN_RULESET': main changes only by a pull request with an approving review and the checks \
${check_list%, }; no force-push, no deletion"

if [[ ${#REVIEWERS[@]} -eq 0 ]]; then # the logged-in user reviews
  if [[ $DRY_RUN == 1 ]]; then REVIEWERS=(YOU); else REVIEWERS=("$(gh api user --jq .login </dev/null)"); fi
fi
mapfile -t ids < <(reviewer_ids)
[[ ${#ids[@]} -eq ${#REVIEWERS[@]} ]] || fail "could not look up the reviewers ${REVIEWERS[*]}"
for id in "${ids[@]}"; do
  [[ $DRY_RUN == 1 || $id =~ ^[0-9]+$ ]] || fail "GitHub answered '$id' for a reviewer's user id"
done
reviewers=$(printf '{"type": "User", "id": %s},' "${ids[@]}")
api --method PUT "repos/$GITHUB_REPO/environments/$ENVIRONMENT" --input - >/dev/null <<EOF
{"prevent_self_review": true, "reviewers": [${reviewers%,}],
 "deployment_branch_policy": {"protected_branches": false, "custom_branch_policies": true}}
EOF
note "environment $ENVIRONMENT: waits for a review by ${REVIEWERS[*]}, never by whoever started the run"

policy=""
if [[ $DRY_RUN != 1 ]]; then
  policy=$(gh api "repos/$GITHUB_REPO/environments/$ENVIRONMENT/deployment-branch-policies" \
    --jq '.branch_policies[] | select(.name == "v*" and .type == "tag") | .id' </dev/null)
fi
if [[ -z $policy ]]; then
  api --method POST "repos/$GITHUB_REPO/environments/$ENVIRONMENT/deployment-branch-policies" \
    --input - >/dev/null <<<'{"name": "v*", "type": "tag"}'
fi
note "environment $ENVIRONMENT: only v* tags may deploy (no branch, so no pushed or unmerged workflow)"
