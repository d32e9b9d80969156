//! Reports as JSON: one [`schema`](crate::schema) document per report.

use serde::Serialize;

use crate::report::Report;
use crate::schema::SCHEMA_VERSION;

/// A report as one line of JSON, without the newline: an
/// [`Envelope`](crate::schema::Envelope) of
/// [`Document::Report`](crate::schema::Document::Report). Symbolizes the
/// report's stacks if they were not yet (call it outside any lock, as
/// [`text`](crate::render::text) is called).
///
/// ```
/// # use lockdep::render::json;
/// lockdep::set_action(lockdep::Action::Silent);
/// let (a, b) = (lockdep::Mutex::named("json_a", ()), lockdep::Mutex::named("json_b", ()));
/// drop((a.lock(), b.lock()));
/// drop((b.lock(), a.lock()));
/// let report = lockdep::reports().pop().unwrap();
/// let line = json::line(&report);
/// let doc = lockdep::schema::Envelope::parse(&line).unwrap();
/// assert!(matches!(doc.document, lockdep::schema::Document::Report(r) if *r == *report));
/// ```
pub fn line(report: &Report) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        schema_version: u32,
        kind: &'static str,
        #[serde(flatten)]
        report: &'a Report,
    }
    serde_json::to_string(&Borrowed {
        schema_version: SCHEMA_VERSION,
        kind: "report",
        report,
    })
    .unwrap_or_default()
}
