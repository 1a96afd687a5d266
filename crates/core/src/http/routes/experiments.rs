//! `/api/experiments`: create, list, read (progress and leaderboard), results, cancel, delete.

use crate::http::error::{ApiResult, ErrorBody};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::json::Json;
use crate::http::views::*;
use crate::services::{next_cursor, page_request, Caller, ListKind, Platform};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use serde::Deserialize;

/// Start an experiment
///
/// Sends every item of the dataset to every variant's agent (as `POST
/// /api/instances/{id}/messages` does) and scores each answer with the scorer; `GET
/// /api/experiments/{id}` shows progress and the leaderboard as results arrive. The dataset is
/// read and checked now (a workspace file or URL as JSONL or CSV). 1 to 20 variants.
#[utoipa::path(post, path = "/api/experiments", operation_id = "createExperiment", tag = "experiments",
    request_body = CreateExperimentBody,
    responses((status = 201, body = ExperimentEnvelope), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "a variant (or the dataset's instance) is not an instance of this account")))]
pub async fn create(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiJson(b): ApiJson<CreateExperimentBody>,
) -> ApiResult<(StatusCode, Json<ExperimentEnvelope>)> {
    let e = p.create_experiment(&caller, b.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ExperimentEnvelope {
            experiment: e.into(),
        }),
    ))
}

/// List experiments
///
/// The account's experiments, newest first (without progress and leaderboard: read one for
/// those).
#[utoipa::path(get, path = "/api/experiments", operation_id = "listExperiments", tag = "experiments", params(ListQuery),
    responses((status = 200, body = ExperimentList)))]
pub async fn list(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ExperimentList>> {
    let page = p
        .list_experiments(
            &caller,
            &page_request(ListKind::Experiments, q.limit, q.cursor)?,
        )
        .await?;
    Ok(Json(ExperimentList {
        experiments: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::Experiments, page.next_cursor),
    }))
}

/// Get an experiment
///
/// Its status, progress (pairs done of item × variant) and the leaderboard: per variant the
/// mean score with its 95 % confidence interval, scored and error counts and mean latency,
/// best first (lowest error for `numeric`).
#[utoipa::path(get, path = "/api/experiments/{id}", operation_id = "getExperiment", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    responses((status = 200, body = ExperimentEnvelope), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ExperimentEnvelope>> {
    let state = p.experiment_state(&caller, &id).await?;
    Ok(Json(ExperimentEnvelope {
        experiment: state.into(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Page size, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page (opaque: pass it back unchanged).
    pub cursor: Option<String>,
    /// Only this variant's results (id or name).
    pub instance_id: Option<String>,
}

/// List an experiment's results
///
/// One row per (variant, item) that ran, by item then variant: the input, expected answer,
/// output, score and the judge's reason, or the item's error.
#[utoipa::path(get, path = "/api/experiments/{id}/results", operation_id = "listExperimentResults", tag = "experiments",
    params(("id" = String, Path, description = "experiment id"), ResultsQuery),
    responses((status = 200, body = ExperimentResultList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn results(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> ApiResult<Json<ExperimentResultList>> {
    let page_req = page_request(ListKind::ExperimentResults, q.limit, q.cursor)?;
    let page = p
        .experiment_results(&caller, &id, q.instance_id.as_deref(), &page_req)
        .await?;
    Ok(Json(ExperimentResultList {
        results: page.items.into_iter().map(Into::into).collect(),
        next_cursor: next_cursor(ListKind::ExperimentResults, page.next_cursor),
    }))
}

/// Cancel an experiment
///
/// Pairs not yet sent are not sent; results so far stay. A finished experiment is unchanged.
#[utoipa::path(post, path = "/api/experiments/{id}/cancel", operation_id = "cancelExperiment", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    responses((status = 202, body = ExperimentEnvelope), (status = 404, body = ErrorBody)))]
pub async fn cancel(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<ExperimentEnvelope>)> {
    let e = p.cancel_experiment(&caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ExperimentEnvelope {
            experiment: e.into(),
        }),
    ))
}

/// Delete an experiment
///
/// Deletes it with its items and results (a running one stops).
#[utoipa::path(delete, path = "/api/experiments/{id}", operation_id = "deleteExperiment", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")),
    responses((status = 200, body = OkBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OkBody>> {
    p.delete_experiment(&caller, &id).await?;
    Ok(Json(OK))
}

/// Evolve an experiment
///
/// Keeps the best `keep` variants of a succeeded experiment, makes new ones up to
/// `populationSize` — each a clone of a kept variant whose skill the platform's model rewrites
/// (steered by `instructions`), named `{skill}-gen{N}-v{M}` — and starts the same dataset on
/// the new generation. Waits until the new variants are active. Within the plan: when fewer fit,
/// fewer are made and `note` says so.
#[utoipa::path(post, path = "/api/experiments/{id}/evolve", operation_id = "evolveExperiment", tag = "experiments",
    params(("id" = String, Path, description = "experiment id")), request_body = EvolveBody,
    responses((status = 201, body = EvolvedView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the experiment has not succeeded"),
        (status = 503, body = ErrorBody, description = "llm_unavailable: no model to write the mutations")))]
pub async fn evolve(
    State(p): State<Platform>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<EvolveBody>,
) -> ApiResult<(StatusCode, Json<EvolvedView>)> {
    let evolved = p.evolve_experiment(&caller, &id, b.into()).await?;
    Ok((StatusCode::CREATED, Json(evolved.into())))
}
