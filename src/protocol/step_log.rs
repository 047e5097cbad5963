//! The per-step log capture: the `tracing` events a step emits become its output's `log`, masked.

use std::fmt;

use super::*;

tokio::task_local! {
    static STEP_LOG: StepLog;
}

/// The log lines of one step, collected from `tracing` events emitted while the step runs, and
/// the secrets no log line of that step may show.
#[derive(Clone, Default)]
pub struct StepLog {
    inner: std::sync::Arc<std::sync::Mutex<String>>,
    masker: std::sync::Arc<Masker>,
    debug: bool,
}

impl StepLog {
    pub fn new(debug: bool, masker: std::sync::Arc<Masker>) -> Self {
        StepLog { inner: Default::default(), masker, debug }
    }

    /// Run a future with this log collecting its events.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        STEP_LOG.scope(self.clone(), fut).await
    }

    /// Everything collected so far, leaving the log empty (triggers send it with each event).
    pub fn take(&self) -> String {
        match self.inner.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    fn push(&self, line: &str) {
        let masked = self.masker.mask_str(line);
        if let Ok(mut g) = self.inner.lock() {
            g.push_str(masked.as_deref().unwrap_or(line));
        }
    }
}

/// Only the plugin's own events belong in a step log (not its HTTP libraries' chatter).
const OWN_TARGET: &str = env!("CARGO_CRATE_NAME");

/// Make sure step logs are captured even when the embedding program installed no subscriber
/// (tests, benchmarks). A program that installs its own must include [`StepLogLayer`].
pub fn ensure_log_capture() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry().with(StepLogLayer).try_init();
}

/// A `tracing` layer that copies the plugin's events into the current step's log, if any.
pub struct StepLogLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StepLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        let meta = event.metadata();
        if !meta.target().starts_with(OWN_TARGET) {
            return;
        }
        let _ = STEP_LOG.try_with(|log| {
            let level = *meta.level();
            if level == tracing::Level::TRACE || (level == tracing::Level::DEBUG && !log.debug) {
                return;
            }
            let mut visitor = MessageVisitor(String::new());
            event.record(&mut visitor);
            // RFC 3339 with milliseconds, written directly (a format string is parsed each time).
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            log.push(&format!("{now} {level} {}\n", one_line(&visitor.0)));
        });
    }
}

/// Process logs (stderr) with the current step's secrets masked, whatever the log format.
#[derive(Clone, Copy, Default)]
pub struct MaskingStderr;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MaskingStderr {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> MaskedLine {
        MaskedLine(Vec::new())
    }
}

/// One formatted log line, masked and written to stderr when dropped.
pub struct MaskedLine(Vec<u8>);

impl std::io::Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A log message as one line: line breaks and other control characters escaped, so that text
/// from outside (a file name, HaloITSM's answer) cannot forge a log line of its own.
pub fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    // ESC stays: it starts the colour codes of a terminal's log, and breaks no line.
    let escaped = |c: char| c.is_control() && c != '\u{1b}';
    if !s.chars().any(escaped) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\n' => "\\n".to_string(),
                '\r' => "\\r".to_string(),
                '\t' => "\\t".to_string(),
                c if escaped(c) => format!("\\u{{{:x}}}", c as u32),
                c => c.to_string(),
            })
            .collect(),
    )
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        let raw = String::from_utf8_lossy(&self.0);
        // One event, one line: only the final line break stays.
        let body = raw.strip_suffix('\n').unwrap_or(&raw);
        let text = format!("{}\n", one_line(body));
        let masked = STEP_LOG.try_with(|log| log.masker.mask_str(&text)).ok().flatten();
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), masked.as_deref().unwrap_or(&text).as_bytes());
    }
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={}", field.name(), value));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={:?}", field.name(), value));
        }
    }
}
