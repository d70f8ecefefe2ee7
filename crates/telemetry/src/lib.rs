//! The one telemetry entry point of every healthpoints process.
//!
//! [`init`] installs a `tracing` subscriber: plain (or JSON) logs filtered by `RUST_LOG` or the
//! configured filter, plus an OpenTelemetry layer that exports spans over OTLP/gRPC when an
//! endpoint is configured. The W3C trace-context propagator is installed globally, and
//! [`inject`] / [`extract`] carry the current trace across every gRPC hop through request
//! headers (tonic's metadata is a `HeaderMap`). Spans are named `<service>.<rpc>` by the server
//! builder; business ids go in fields, secrets never do.

pub mod metrics;

use std::{io::IsTerminal, sync::OnceLock, time::Duration};

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer as _, filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt,
};

/// How a process reports what it does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, e.g. `http://127.0.0.1:4317`; none means logs only.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `text` or `json`.
    #[serde(default = "default_format")]
    pub log_format: String,
    /// A `tracing` filter such as `info,healthpoints_identity=debug`; `RUST_LOG` wins.
    #[serde(default = "default_filter")]
    pub log_filter: String,
}

fn default_format() -> String {
    "text".into()
}

fn default_filter() -> String {
    "info".into()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            log_format: default_format(),
            log_filter: default_filter(),
        }
    }
}

/// Flushes exported spans when dropped; keep it alive for the life of the process.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The process's resource: `OTEL_SERVICE_NAME` when set (the standard variable wins), else
/// `service`; `OTEL_RESOURCE_ATTRIBUTES` is read too.
fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(env("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned()))
        .build()
}

/// Installs logging, tracing and trace-context propagation for `service`. Safe to call more
/// than once (the all-in-one runner hosts several services): only the first call installs.
///
/// Spans are exported over OTLP/gRPC to the configured `otlp_endpoint`, else to the standard
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`; the SDK reads the
/// other standard variables (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
/// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`…) itself.
pub fn init(service: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    let endpoint = config
        .otlp_endpoint
        .clone()
        .or_else(|| env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let provider = match endpoint {
        Some(endpoint) if INSTALLED.get().is_none() => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource(service))
                    .build(),
            )
        }
        _ => None,
    };
    install(service, config, provider)
}

/// [`init`], exporting every span to `exporter` as it ends (a test's in-memory exporter).
pub fn init_exporting_to<E>(
    service: &str,
    config: &TelemetryConfig,
    exporter: E,
) -> anyhow::Result<TelemetryGuard>
where
    E: opentelemetry_sdk::trace::SpanExporter + 'static,
{
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource(service))
        .build();
    install(service, config, Some(provider))
}

fn install(
    service: &str,
    config: &TelemetryConfig,
    provider: Option<SdkTracerProvider>,
) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    if INSTALLED.get().is_some() {
        return Ok(TelemetryGuard { provider: None });
    }
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_filter))
        .map_err(|e| anyhow::anyhow!("log_filter: {e}"))?;

    // Spans go to OpenTelemetry at `info` whatever the log filter says: `RUST_LOG=warn` quiets
    // the logs, not the traces (and the trace context the spans carry to the next hop).
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer(service.to_owned()))
            .with_filter(LevelFilter::INFO)
    });
    if let Some(p) = &provider {
        global::set_tracer_provider(p.clone());
    }

    let json = config.log_format == "json";
    let registry = tracing_subscriber::registry().with(otel);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(true)
                    .with_filter(filter),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(true)
                    // Colours for a person at a terminal; plain text for files and shippers.
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_filter(filter),
            )
            .try_init()
    };
    // Another subscriber (a test harness) may already be installed; that is not an error.
    let _ = result;
    std::panic::set_hook(Box::new(log_panic));
    let _ = INSTALLED.set(());
    Ok(TelemetryGuard { provider })
}

/// The panic hook of every process: one structured error event instead of the default text on
/// stderr. The servers catch the panic at their edge and answer INTERNAL / 500, so this is the
/// only place it is logged. A panic message may quote the input that caused it (an ID number,
/// a name), so digits and non-ASCII characters are masked; the location says where to look.
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let location = info
        .location()
        .map(|l| format!("{}:{}", l.file(), l.line()))
        .unwrap_or_default();
    tracing::error!(%location, message = %redact(&message), "panic");
}

/// A panic message with every digit shown as `#` and every non-ASCII character as `*`.
fn redact(message: &str) -> String {
    message
        .chars()
        .map(|c| match c {
            c if c.is_numeric() => '#',
            c if !c.is_ascii() => '*',
            c => c,
        })
        .collect()
}

/// Logs for tests: silent unless `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = init("test", &TelemetryConfig::default());
    } else {
        global::set_text_map_propagator(TraceContextPropagator::new());
    }
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header that names a request across the mesh.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A request id as received, if it is one: a UUID (`8-4-4-4-12` hex digits). Anything else a
/// client sends could carry a phone or ID number into every log line, so it is not taken.
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_uuid(v))
        .map(str::to_owned)
}

/// Whether `s` is a hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Runs `fut` as the handling of request `id`: the calls it makes carry the id on
/// ([`inject`]).
pub async fn with_request_id<F: Future>(id: Option<String>, fut: F) -> F::Output {
    REQUEST_ID.scope(id.unwrap_or_default(), fut).await
}

/// The id of the request being handled on this task, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .filter(|id| !id.is_empty())
}

/// Writes the current span's trace context (`traceparent`, `tracestate`) and the request's id
/// (`x-request-id`) into outgoing headers.
pub fn inject(headers: &mut HeaderMap) {
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut HeaderInjector(headers)));
    if let Some(id) = request_id()
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

/// Reads a caller's trace context from incoming headers.
pub fn extract(headers: &HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// Makes `span` a child of the caller's trace carried in `headers`.
pub fn adopt_parent(span: &tracing::Span, headers: &HeaderMap) {
    let _ = span.set_parent(extract(headers));
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };

    #[test]
    fn panic_messages_are_logged_without_numbers_or_names() {
        let message =
            "byte index 17 is not a char boundary; it is inside '９' of `３１０１１８` (张伟)";
        let shown = redact(message);
        assert_eq!(
            shown,
            "byte index ## is not a char boundary; it is inside '#' of `######` (**)"
        );
    }

    #[test]
    fn trace_context_survives_a_header_round_trip() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let sc = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(sc.clone());
        let mut headers = HeaderMap::new();
        global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut HeaderInjector(&mut headers))
        });
        assert_eq!(
            headers["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let back = extract(&headers);
        assert_eq!(back.span().span_context().trace_id(), sc.trace_id());
    }
}
