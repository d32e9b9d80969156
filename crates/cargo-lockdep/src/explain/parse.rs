//! Linux lockdep reports, read from a kernel log into lockdep's report model.
//!
//! The layouts read are those of `kernel/locking/lockdep.c` from 4.x to 6.x:
//! the title as `[ INFO: ... ]` (up to 4.13) or `WARNING: ...` (since 4.14);
//! lock lines as ` (name){usage}, at: [<addr>] sym+off/len` (before 4.20),
//! `addr (name){usage}, at: sym+off/len` (since) and with `-{outer:inner}`
//! (since 5.7); traces with or without `[<addr>]`, `? ` and `<TASK>`
//! markers, symbolized (`sym file:line [inline]`) or not. The reports read
//! are circular dependencies, recursive locking and inconsistent lock
//! state; other lockdep reports are named and skipped.

use std::collections::HashMap;
use std::fmt;

use lockdep::offline::class_id;
use lockdep::report::{
    Backtrace, ChainLink, Frame, KernelLock, LockInfo, Problem, ProcessInfo, RecursionCause,
    Report, ThreadInfo,
};
use lockdep::{ClassId, Mode};

use super::log::{lines, Line};

/// Input that is not a lockdep report the parser can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line at fault, from 1 (the last line when the input ended early).
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// What a log holds.
#[derive(Debug)]
pub struct Explained {
    /// The reports read, in the log's order, each with the line of its title.
    pub reports: Vec<(usize, Report)>,
    /// Lockdep reports of other kinds: the line of the title, and the title.
    pub skipped: Vec<(usize, String)>,
}

/// What a title line announces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Circular,
    Recursive,
    Inconsistent,
}

/// Titles of the lockdep reports this parser does not read.
const OTHER_TITLES: &[&str] = &[
    "possible irq lock inversion dependency detected",
    "bad unlock balance detected!",
    "held lock freed!",
    "lock held when returning to user space!",
    "Invalid wait context",
    "Nested lock was not taken",
    "bad contention detected!",
];

/// The report kind a title line announces, or the title of one not read.
fn title(text: &str) -> Option<Result<Kind, String>> {
    let t = text.trim();
    let inner = match t.strip_prefix("[ ").and_then(|r| r.strip_suffix(" ]")) {
        Some(inner) => inner,
        None => t,
    };
    let inner = ["INFO: ", "WARNING: ", "BUG: "]
        .iter()
        .find_map(|p| inner.strip_prefix(p))?;
    Some(match inner {
        "possible circular locking dependency detected" => Ok(Kind::Circular),
        "possible recursive locking detected" => Ok(Kind::Recursive),
        "inconsistent lock state" => Ok(Kind::Inconsistent),
        other
            if OTHER_TITLES.contains(&other)
                || (other.ends_with("-unsafe lock order detected")
                    && other.contains("-safe ->")) =>
        {
            Err(other.to_string())
        }
        _ => return None,
    })
}

/// Reads every lockdep report in `input`. An error names the first line
/// that breaks a report's layout; a log with no report is an error too.
pub fn parse_log(input: &str) -> Result<Explained, ParseError> {
    let lines = lines(input);
    let starts: Vec<(usize, Result<Kind, String>)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| title(&l.text).map(|k| (i, k)))
        .collect();
    let mut classes = Classes::default();
    let mut out = Explained {
        reports: Vec::new(),
        skipped: Vec::new(),
    };
    for (n, (start, kind)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(lines.len(), |s| s.0);
        let title_no = lines[*start].no;
        match kind {
            Ok(kind) => {
                let mut c = Cursor {
                    lines: &lines[start + 1..end],
                    pos: 0,
                    title_no,
                };
                let report = read_report(&mut c, *kind, &mut classes)?;
                out.reports.push((title_no, report));
            }
            Err(other) => out.skipped.push((title_no, other.clone())),
        }
    }
    if out.reports.is_empty() {
        let last = lines.last().map_or(1, |l| l.no);
        let message = match out.skipped.first() {
            Some((no, t)) => format!(
                "no lockdep report that explain reads (the first report, at line {no}, \
                 is \"{t}\"; explain reads circular dependencies, recursive locking and \
                 inconsistent lock state)"
            ),
            None => "no lockdep report found (no line is a lockdep title such as \
                     `WARNING: possible circular locking dependency detected`)"
                .to_string(),
        };
        return Err(ParseError {
            line: last,
            message,
        });
    }
    Ok(out)
}

/// Class ids by name: one id per name across the log's reports (a kernel's
/// class names are unique within a boot, `#N` and `/N` included).
#[derive(Default)]
struct Classes(HashMap<String, u32>);

impl Classes {
    fn id(&mut self, name: &str) -> ClassId {
        let next = self.0.len() as u32;
        class_id(*self.0.entry(name.to_string()).or_insert(next))
    }
}

/// The lines of one report, after its title.
struct Cursor<'a> {
    lines: &'a [Line],
    pos: usize,
    title_no: usize,
}

impl<'a> Cursor<'a> {
    /// The next line with text, skipping blank ones.
    fn peek(&mut self) -> Option<&'a Line> {
        while self.pos < self.lines.len() && self.lines[self.pos].text.trim().is_empty() {
            self.pos += 1;
        }
        self.lines.get(self.pos)
    }

    fn next(&mut self) -> Option<&'a Line> {
        let l = self.peek()?;
        self.pos += 1;
        Some(l)
    }

    /// An error at `line`.
    fn error(&self, line: &Line, message: String) -> ParseError {
        ParseError {
            line: line.no,
            message,
        }
    }

    /// The report ended before `what`.
    fn ended(&self, what: &str) -> ParseError {
        let line = self.lines.last().map_or(self.title_no, |l| l.no);
        ParseError {
            line,
            message: format!(
                "the report that starts at line {} ends before {what}",
                self.title_no
            ),
        }
    }

    /// The next line, which must be `what` (`read` returns `None` otherwise).
    fn expect<T>(
        &mut self,
        what: &str,
        read: impl FnOnce(&str) -> Option<T>,
    ) -> Result<(T, &'a Line), ParseError> {
        let line = self.next().ok_or_else(|| self.ended(what))?;
        match read(line.trimmed()) {
            Some(v) => Ok((v, line)),
            None => Err(self.error(line, format!("expected {what}, found `{}`", line.trimmed()))),
        }
    }

    /// Skips the next line if it is `text`.
    fn skip(&mut self, text: &str) -> bool {
        if self.peek().is_some_and(|l| l.trimmed() == text) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Frames while the next lines are frames.
    fn frames(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(l) = self.peek() {
            let t = l.trimmed();
            if matches!(
                t,
                "<TASK>" | "</TASK>" | "<IRQ>" | "</IRQ>" | "<NMI>" | "</NMI>"
            ) {
                self.pos += 1;
                continue;
            }
            match frame(t) {
                Some(f) => {
                    out.push(f);
                    self.pos += 1;
                }
                None => break,
            }
        }
        out
    }
}

/// What the sections after the problem's own part hold.
#[derive(Default)]
struct Tail {
    /// Scenario steps: the column (0, 1) or the interrupt (2), the verb, the
    /// class name.
    scenario: Vec<(usize, String, String)>,
    held: Vec<LockInfo>,
    backtrace: Vec<Frame>,
}

fn read_report(c: &mut Cursor, kind: Kind, classes: &mut Classes) -> Result<Report, ParseError> {
    let ident = read_ident(c)?;
    let (problem, task) = match kind {
        Kind::Circular | Kind::Recursive => {
            let (task, _) = c.expect("`<comm>/<pid> is trying to acquire lock:`", |t| {
                t.strip_suffix(" is trying to acquire lock:")
                    .map(str::to_string)
            })?;
            let mut acquiring = expect_lock(c, classes, "the lock being acquired")?;
            c.expect("`but task is already holding lock:`", |t| {
                (t == "but task is already holding lock:").then_some(())
            })?;
            let mut holding = expect_lock(c, classes, "the lock held")?;
            if kind == Kind::Circular {
                let chain = read_chain(c, classes)?;
                let tail = read_tail(c, classes)?;
                // CPU0's steps are the held lock, then the acquired one.
                let cpu0: Vec<_> = tail.scenario.iter().filter(|s| s.0 == 0).collect();
                if let (Some(first), Some(last)) = (cpu0.first(), cpu0.last()) {
                    holding.mode = mode(&first.1);
                    acquiring.mode = mode(&last.1);
                }
                (
                    (
                        Problem::CircularDependency {
                            acquiring,
                            holding,
                            chain,
                        },
                        tail,
                    ),
                    task,
                )
            } else {
                let comparison = read_comparison(c)?;
                let tail = read_tail(c, classes)?;
                if let [first, second, ..] = tail.scenario.as_slice() {
                    holding.mode = mode(&first.1);
                    acquiring.mode = mode(&second.1);
                }
                (
                    (
                        Problem::RecursiveLocking {
                            acquiring,
                            holding,
                            comparison,
                            cause: RecursionCause::SameKey,
                        },
                        tail,
                    ),
                    task,
                )
            }
        }
        Kind::Inconsistent => {
            let ((registered, new_usage), _) =
                c.expect("`inconsistent {<usage>} -> {<usage>} usage.`", |t| {
                    let inner = t.strip_prefix("inconsistent {")?.strip_suffix("} usage.")?;
                    let (a, b) = inner.split_once("} -> {")?;
                    Some((a.to_string(), b.to_string()))
                })?;
            let ((task, irq_state), _) =
                c.expect("`<comm>/<pid> [HC..:SC..:HE..:SE..] takes:`", |t| {
                    let head = t.strip_suffix("] takes:")?;
                    let (task, state) = head.rsplit_once(" [")?;
                    Some((task.to_string(), state.to_string()))
                })?;
            let lock = expect_lock(c, classes, "the lock")?;
            let registered_line = format!("{{{registered}}} state was registered at:");
            c.expect(&format!("`{registered_line}`"), |t| {
                (t == registered_line).then_some(())
            })?;
            let registered_at = Backtrace::from_frames(c.frames());
            let mut irq_events = Vec::new();
            while let Some(l) = c.peek() {
                let t = l.trimmed();
                if t.starts_with("irq event stamp:")
                    || t.starts_with("hardirqs last")
                    || t.starts_with("softirqs last")
                {
                    irq_events.push(t.to_string());
                    c.pos += 1;
                } else {
                    break;
                }
            }
            let tail = read_tail(c, classes)?;
            (
                (
                    Problem::InconsistentLockState {
                        lock,
                        registered,
                        new_usage,
                        irq_state,
                        registered_at,
                        irq_events,
                    },
                    tail,
                ),
                task,
            )
        }
    };
    let ((problem, tail), task) = (problem, task);
    let (comm, pid) = split_task(&task).ok_or_else(|| ParseError {
        line: c.title_no,
        message: format!("`{task}` is not `<comm>/<pid>`"),
    })?;
    Ok(Report {
        process: ProcessInfo {
            pid,
            executable: comm.to_string(),
            lockdep_version: "",
            test: None,
            kernel: Some(ident),
        },
        thread: ThreadInfo {
            name: comm.to_string(),
            id: pid.into(),
        },
        problem,
        held: tail.held,
        backtrace: Backtrace::from_frames(tail.backtrace),
    })
}

/// The line under the title's rule: `<release> <version> <taint>`.
fn read_ident(c: &mut Cursor) -> Result<String, ParseError> {
    let (ident, _) = c.expect("the kernel's identification line", |t| {
        (!is_rule(t, '-')).then(|| t.to_string())
    })?;
    if c.peek().is_some_and(|l| is_rule(l.trimmed(), '-')) {
        c.pos += 1;
    }
    Ok(ident)
}

fn is_rule(t: &str, c: char) -> bool {
    t.len() >= 8 && t.chars().all(|x| x == c)
}

/// `comm/pid`: the comm may hold slashes (`kworker/u16:3/123`).
fn split_task(task: &str) -> Option<(&str, u32)> {
    let (comm, pid) = task.rsplit_once('/')?;
    Some((comm, pid.parse().ok()?))
}

fn mode(verb: &str) -> Mode {
    if verb == "rlock" {
        Mode::Shared
    } else {
        Mode::Exclusive
    }
}

fn expect_lock(c: &mut Cursor, classes: &mut Classes, what: &str) -> Result<LockInfo, ParseError> {
    let what = format!("{what}, as `(<class>){{<usage>}}, at: <where>`");
    let (lock, _) = c.expect(&what, |t| lock(t, classes))?;
    Ok(lock)
}

/// `[and the lock comparison function returns N:]` of a recursion report.
fn read_comparison(c: &mut Cursor) -> Result<Option<std::cmp::Ordering>, ParseError> {
    let Some(l) = c.peek() else { return Ok(None) };
    let Some(n) = l
        .trimmed()
        .strip_prefix("and the lock comparison function returns ")
        .and_then(|r| r.strip_suffix(':'))
    else {
        return Ok(None);
    };
    let n: i64 = n.trim().parse().map_err(|_| ParseError {
        line: l.no,
        message: format!("`{n}` is not a number"),
    })?;
    c.pos += 1;
    Ok(Some(n.cmp(&0)))
}

/// The existing chain: `-> #N (class){usage}:` entries, each with its trace.
fn read_chain(c: &mut Cursor, classes: &mut Classes) -> Result<Vec<ChainLink>, ParseError> {
    c.skip("which lock already depends on the new lock.");
    c.expect(
        "`the existing dependency chain (in reverse order) is:`",
        |t| (t == "the existing dependency chain (in reverse order) is:").then_some(()),
    )?;
    let mut chain = Vec::new();
    let mut expected_depth: Option<usize> = None;
    loop {
        let entry = "a chain entry `-> #N (<class>){<usage>}:`";
        let line = match c.peek() {
            Some(l) if l.trimmed().starts_with("-> #") => l,
            Some(l) if chain.is_empty() => {
                return Err(c.error(l, format!("expected {entry}, found `{}`", l.trimmed())))
            }
            None if chain.is_empty() => return Err(c.ended(entry)),
            _ => break,
        };
        c.pos += 1;
        let rest = &line.trimmed()["-> #".len()..];
        let (depth, lock_text) = rest
            .split_once(' ')
            .and_then(|(d, r)| Some((d.parse::<usize>().ok()?, r)))
            .ok_or_else(|| {
                c.error(
                    line,
                    format!("expected {entry}, found `{}`", line.trimmed()),
                )
            })?;
        if let Some(want) = expected_depth {
            if depth != want {
                return Err(c.error(
                    line,
                    format!("chain entry #{depth} out of order: expected #{want}"),
                ));
            }
        }
        let lock = lock_text
            .strip_suffix(':')
            .and_then(|t| lock(t, classes))
            .ok_or_else(|| {
                c.error(
                    line,
                    format!("expected {entry}, found `{}`", line.trimmed()),
                )
            })?;
        let trace = Backtrace::from_frames(c.frames());
        chain.push(ChainLink {
            lock,
            dependency: String::new(),
            trace,
            learned_by: None,
        });
        if depth == 0 {
            expected_depth = None;
            break;
        }
        expected_depth = Some(depth - 1);
    }
    if let Some(want) = expected_depth {
        let line = c.peek().or(c.lines.last());
        return Err(match line {
            Some(l) => c.error(l, format!("the chain stops before entry #{want}")),
            None => c.ended(&format!("chain entry #{want}")),
        });
    }
    Ok(chain)
}

/// The sections after the problem's own part, each optional: other info,
/// `Chain exists of:`, the scenario table, `*** DEADLOCK ***`, the hint,
/// held locks and the stack backtrace. The report ends at the first line
/// that belongs to none of them.
fn read_tail(c: &mut Cursor, classes: &mut Classes) -> Result<Tail, ParseError> {
    let mut tail = Tail::default();
    while let Some(l) = c.peek() {
        let t = l.trimmed();
        if matches!(
            t,
            "other info that might help us debug this:"
                | "*** DEADLOCK ***"
                | "May be due to missing lock nesting notation"
                | "]"
        ) {
            c.pos += 1;
        } else if t == "[Chain exists of:" || t == "Chain exists of:" {
            c.pos += 1;
            while c.peek().is_some_and(|l| l.trimmed().contains(" --> ")) {
                c.pos += 1;
            }
        } else if t.ends_with("unsafe locking scenario:") {
            c.pos += 1;
            tail.scenario = read_scenario(c)?;
        } else if let Some(count) = held_header(t) {
            c.pos += 1;
            tail.held = read_held(c, classes, count)?;
        } else if t == "stack backtrace:" {
            c.pos += 1;
            while c.peek().is_some_and(|l| {
                let t = l.trimmed();
                t.starts_with("CPU: ")
                    || t.starts_with("Hardware name:")
                    || t.starts_with("Workqueue:")
                    || t == "Call Trace:"
                    || stack_words(t)
            }) {
                c.pos += 1;
            }
            tail.backtrace = c.frames();
            break;
        } else {
            break;
        }
    }
    Ok(tail)
}

/// A line of raw stack words that older kernels dump before the call
/// trace (`ffffc90001a3fb30 ffffffff813e5c2c ...`).
fn stack_words(t: &str) -> bool {
    let mut words = t.split_whitespace().peekable();
    words.peek().is_some()
        && words.all(|w| w.len() >= 8 && w.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The scenario table: a `CPU0 [CPU1]` header, its rule, then steps until
/// `*** DEADLOCK ***`.
fn read_scenario(c: &mut Cursor) -> Result<Vec<(usize, String, String)>, ParseError> {
    let ((), line) = c.expect("the scenario's `CPU0 CPU1` header", |t| {
        t.starts_with("CPU0").then_some(())
    })?;
    let col0 = line.indent();
    let col1 = line.text.find("CPU1");
    if c.peek().is_some_and(|l| l.trimmed().starts_with("----")) {
        c.pos += 1;
    }
    let mut steps = Vec::new();
    let mut interrupted = false;
    while let Some(l) = c.peek() {
        let t = l.trimmed();
        if t == "*** DEADLOCK ***" {
            break;
        }
        c.pos += 1;
        if t == "<Interrupt>" {
            interrupted = true;
            continue;
        }
        if t == "local_irq_disable();" {
            continue;
        }
        let step = t
            .strip_suffix(");")
            .and_then(|r| r.split_once('('))
            .filter(|(verb, _)| !verb.is_empty() && verb.bytes().all(|b| b.is_ascii_lowercase()));
        let Some((verb, name)) = step else {
            return Err(c.error(
                l,
                format!("expected a scenario step such as `lock(<class>);`, found `{t}`"),
            ));
        };
        let column = match col1 {
            Some(col1) if l.indent() >= (col0 + col1) / 2 => 1,
            _ if interrupted => 2,
            _ => 0,
        };
        steps.push((column, verb.to_string(), name.to_string()));
    }
    Ok(steps)
}

/// `N lock(s) held by comm/pid:` or `no locks held by comm/pid.`: the count.
fn held_header(t: &str) -> Option<usize> {
    if t.starts_with("no locks held by ") && t.ends_with('.') {
        return Some(0);
    }
    let (n, rest) = t.split_once(' ')?;
    let n: usize = n.parse().ok()?;
    (rest.starts_with("lock held by ") || rest.starts_with("locks held by ")).then_some(n)?;
    t.ends_with(':').then_some(n)
}

fn read_held(
    c: &mut Cursor,
    classes: &mut Classes,
    count: usize,
) -> Result<Vec<LockInfo>, ParseError> {
    let mut held = Vec::with_capacity(count.min(64));
    for i in 0..count {
        let want = format!(" #{i}: ");
        let (lock, _) = c.expect(&format!("held lock `#{i}: (<class>){{<usage>}}`"), |t| {
            let rest = t.strip_prefix(want.trim_start())?;
            lock(rest, classes)
        })?;
        held.push(lock);
        // A symbolizer prints an entry again for each inlined frame of
        // where it was acquired (`#0: ... [inline]`, then `#0: ...`).
        while c
            .peek()
            .is_some_and(|l| l.trimmed().starts_with(want.trim_start()))
        {
            c.pos += 1;
        }
    }
    Ok(held)
}

/// A lock line: `[<instance>] (<name>){<usage>}[-{o:i}][, at: <where>]`.
/// The name may hold parentheses (`(work_completion)(&w->work)`): it ends
/// at the last `){` that opens a usage string.
fn lock(t: &str, classes: &mut Classes) -> Option<LockInfo> {
    let t = t.trim();
    let (instance, rest) = match t.split_once(' ') {
        Some((addr, rest))
            if addr.len() >= 8
                && addr.bytes().all(|b| b.is_ascii_hexdigit())
                && rest.starts_with('(') =>
        {
            (Some(addr.to_string()), rest)
        }
        _ => (None, t),
    };
    let body = rest.strip_prefix('(')?;
    let usage_char = |b: u8| matches!(b, b'+' | b'-' | b'.' | b'?');
    let (name_end, usage_end) = body
        .match_indices("){")
        .filter_map(|(i, _)| {
            let after = &body.as_bytes()[i + 2..];
            let n = after.iter().take_while(|&&b| usage_char(b)).count();
            (after.get(n) == Some(&b'}')).then_some((i, i + 2 + n))
        })
        .last()?;
    let name = &body[..name_end];
    if name.is_empty() {
        return None;
    }
    let usage = &body[name_end + 2..usage_end];
    let mut after = &body[usage_end + 1..];
    let mut wait_context = None;
    if let Some(w) = after.strip_prefix("-{") {
        let (ctx, rest) = w.split_once('}')?;
        wait_context = Some(ctx.to_string());
        after = rest;
    }
    let at = match after.trim() {
        "" => None,
        a => Some(a.strip_prefix(", at:")?.trim().to_string()),
    };
    Some(LockInfo {
        class: classes.id(name),
        name: name.to_string(),
        usage: usage.to_string(),
        mode: Mode::Exclusive,
        trylock: false,
        at: None,
        kernel: Some(Box::new(KernelLock {
            instance,
            wait_context,
            at,
        })),
    })
}

/// A trace line: `[? ][[<addr>] ][? ]sym+0xoff/0xlen[ file:line][ [inline]][ [module]]`,
/// or a symbolized `sym file:line [inline]`.
fn frame(t: &str) -> Option<Frame> {
    let mut t = t.trim();
    let mut unreliable = false;
    if let Some(r) = t.strip_prefix("? ") {
        unreliable = true;
        t = r;
    }
    if let Some(r) = t.strip_prefix("[<") {
        let (addr, rest) = r.split_once(">]")?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        t = rest.trim_start();
        if let Some(r) = t.strip_prefix("? ") {
            unreliable = true;
            t = r;
        }
    }
    let mut tokens = t.split_whitespace();
    let symbol = tokens.next()?;
    let (name, offset) = match symbol.split_once('+') {
        Some((name, off)) => (name, Some(off)),
        None => (symbol, None),
    };
    let ident = |s: &str| {
        s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    };
    if !ident(name) {
        return None;
    }
    if let Some(off) = offset {
        let (o, l) = off.split_once('/')?;
        let hex = |s: &str| {
            s.strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        if !hex(o) || !hex(l) {
            return None;
        }
    }
    let mut function = String::new();
    if unreliable {
        function.push_str("? ");
    }
    function.push_str(symbol);
    let (mut file, mut line) = (None, None);
    let mut described = offset.is_some();
    for tok in tokens {
        if let Some((f, n)) = tok.rsplit_once(':') {
            if let (Ok(n), true) = (n.parse::<u32>(), f.contains(['/', '.'])) {
                file = Some(f.to_string());
                line = Some(n);
                described = true;
                continue;
            }
        }
        if tok.starts_with('[') && tok.ends_with(']') && tok.len() > 2 {
            function.push(' ');
            function.push_str(tok);
            continue;
        }
        return None;
    }
    described.then_some(Frame {
        function,
        file,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every kernel log of the integration tests.
    const LOGS: &[&str] = &[
        include_str!("../../tests/kernel/seed-slub-4.10.txt"),
        include_str!("../../tests/kernel/seed-slub-4.10-web-archive.txt"),
        include_str!("../../tests/kernel/circular-5.10-syslog.log"),
        include_str!("../../tests/kernel/circular-6.6-dmesg-symbolized.log"),
        include_str!("../../tests/kernel/recursive-4.9-info.log"),
        include_str!("../../tests/kernel/recursive-6.8-journal.log"),
        include_str!("../../tests/kernel/inconsistent-4.4-info.log"),
        include_str!("../../tests/kernel/inconsistent-5.15-irq.log"),
        include_str!("../../tests/kernel/mixed-inversion-skipped.log"),
        include_str!("../../tests/kernel/circular-4.4-addresses.log"),
    ];

    /// Parsing `input` returns, naming a line of it; what it returns renders
    /// and goes into a class graph.
    fn parses_or_names_a_line(input: &str) -> Result<(), TestCaseError> {
        let lines = input.lines().count().max(1);
        match parse_log(input) {
            Ok(e) => {
                prop_assert!(!e.reports.is_empty());
                let mut g = crate::graph::model::ClassGraph::default();
                for (line, r) in &e.reports {
                    prop_assert!((1..=lines).contains(line));
                    let text = lockdep::render::text(r);
                    prop_assert!(text.contains(r.title()));
                    g.add_report(r, "fuzz");
                }
                prop_assert!(!g.cycles.is_empty());
            }
            Err(e) => {
                prop_assert!((1..=lines).contains(&e.line), "{e} (of {lines} lines)");
                prop_assert!(!e.message.is_empty());
            }
        }
        Ok(())
    }

    /// Pieces of reports, to build inputs that reach deep into the parser.
    fn fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("WARNING: possible circular locking dependency detected".to_string()),
            Just("[ INFO: possible recursive locking detected ]".to_string()),
            Just("WARNING: inconsistent lock state".to_string()),
            Just("6.1.0 #1 Not tainted".to_string()),
            Just("------------".to_string()),
            Just("a/1 is trying to acquire lock:".to_string()),
            Just(" (a){+.+.}, at: f+0x1/0x2".to_string()),
            Just("ffff8880 (b){++++}-{3:3}, at: g+0x1/0x2".to_string()),
            Just("but task is already holding lock:".to_string()),
            Just("the existing dependency chain (in reverse order) is:".to_string()),
            Just("-> #1 (a){+.+.}:".to_string()),
            Just("-> #0 (b){+.+.}:".to_string()),
            Just("       lock_acquire+0x1/0x2".to_string()),
            Just(" Possible unsafe locking scenario:".to_string()),
            Just("       CPU0                    CPU1".to_string()),
            Just("  lock(a);".to_string()),
            Just("                               rlock(b);".to_string()),
            Just("  <Interrupt>".to_string()),
            Just(" *** DEADLOCK ***".to_string()),
            Just("2 locks held by a/1:".to_string()),
            Just(" #0: (a){+.+.}, at: f+0x1/0x2".to_string()),
            Just("inconsistent {A} -> {B} usage.".to_string()),
            Just("a/1 [HC0[0]:SC1[1]:HE1:SE0] takes:".to_string()),
            Just("{A} state was registered at:".to_string()),
            Just("stack backtrace:".to_string()),
            Just("Call Trace:".to_string()),
            Just("[  1.000000] ".to_string()),
            Just("and the lock comparison function returns -1:".to_string()),
            Just("at: [<".to_string()),
            "[ -~\\t\u{a0}é]{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            parses_or_names_a_line(&s)?;
        }

        #[test]
        fn report_fragments_never_panic(parts in prop::collection::vec(fragment(), 0..60)) {
            parses_or_names_a_line(&parts.join("\n"))?;
        }

        #[test]
        fn mutated_logs_never_panic(
            log in 0..LOGS.len(),
            edits in prop::collection::vec((0u8..6, any::<usize>(), any::<usize>(), "[ -~]{0,30}"), 1..10),
        ) {
            let mut lines: Vec<String> = LOGS[log].lines().map(str::to_string).collect();
            for (kind, a, b, text) in edits {
                if lines.is_empty() {
                    break;
                }
                let i = a % lines.len();
                let j = b % lines.len();
                match kind {
                    0 => { lines.remove(i); }
                    1 => { let l = lines[i].clone(); lines.insert(i, l); }
                    2 => lines[i] = text,
                    3 => {
                        let cut = lines[i].char_indices().nth(b % (lines[i].chars().count() + 1)).map_or(lines[i].len(), |(k, _)| k);
                        lines[i].truncate(cut);
                    }
                    4 => {
                        let at = lines[i].char_indices().nth(b % (lines[i].chars().count() + 1)).map_or(lines[i].len(), |(k, _)| k);
                        lines[i].insert_str(at, &text);
                    }
                    _ => lines.swap(i, j),
                }
            }
            parses_or_names_a_line(&lines.join("\n"))?;
        }
    }

    #[test]
    fn every_log_parses() {
        for log in LOGS {
            let e = parse_log(log).unwrap();
            assert!(!e.reports.is_empty());
        }
    }

    #[test]
    fn the_seed_in_the_model() {
        let e = parse_log(LOGS[0]).unwrap();
        assert_eq!(e.reports.len(), 1);
        let (line, r) = &e.reports[0];
        assert_eq!(*line, 11);
        assert_eq!(r.thread.name, "rmmod");
        assert_eq!(r.thread.id, 1211);
        assert_eq!(
            r.process.kernel.as_deref(),
            Some("4.10.0-test+ #48 Not tainted")
        );
        let Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        } = &r.problem
        else {
            panic!("{:?}", r.problem)
        };
        assert_eq!(acquiring.name, "s_active#120");
        assert_eq!(holding.name, "slab_mutex");
        assert_eq!(holding.mode, Mode::Exclusive);
        let names: Vec<_> = chain.iter().map(|l| l.lock.name.as_str()).collect();
        assert_eq!(names, ["slab_mutex", "s_active#120"]);
        assert_eq!(chain[0].lock.class, holding.class);
        assert_eq!(chain[1].lock.class, acquiring.class);
        assert_eq!(chain[0].trace.frames().len(), 10);
        assert_eq!(
            chain[0].trace.frames()[3].function,
            "slab_attr_store+0x75/0xd0"
        );
        assert_eq!(chain[1].trace.frames().len(), 12);
        let held: Vec<_> = r.held.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(held, ["cpu_hotplug.dep_map", "slab_mutex"]);
        assert_eq!(r.held[1].class, holding.class);
        assert_eq!(r.backtrace.frames().len(), 14);
    }

    #[test]
    fn modes_come_from_the_scenario() {
        let e = parse_log(LOGS[2]).unwrap();
        let Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        } = &e.reports[0].1.problem
        else {
            panic!()
        };
        assert_eq!(acquiring.mode, Mode::Shared);
        assert_eq!(holding.mode, Mode::Exclusive);
        assert_eq!(chain.len(), 3);
    }

    #[test]
    fn inconsistent_state_in_the_model() {
        let e = parse_log(LOGS[7]).unwrap();
        let r = &e.reports[0].1;
        let Problem::InconsistentLockState {
            lock,
            registered,
            new_usage,
            irq_state,
            registered_at,
            irq_events,
        } = &r.problem
        else {
            panic!("{:?}", r.problem)
        };
        assert_eq!(lock.name, "&priv->stats_lock");
        assert_eq!(lock.usage, "+.?.");
        assert_eq!(registered, "SOFTIRQ-ON-W");
        assert_eq!(new_usage, "IN-SOFTIRQ-W");
        assert_eq!(irq_state, "HC0[0]:SC1[1]:HE1:SE0");
        assert_eq!(registered_at.frames().len(), 18);
        assert_eq!(irq_events.len(), 5);
        assert!(r.held.is_empty());
        assert_eq!(r.thread.name, "swapper/1");
        assert_eq!(r.thread.id, 0);
    }

    #[test]
    fn recursion_with_a_comparison() {
        let e = parse_log(LOGS[5]).unwrap();
        let Problem::RecursiveLocking {
            acquiring,
            holding,
            comparison,
            ..
        } = &e.reports[0].1.problem
        else {
            panic!()
        };
        assert_eq!(acquiring.class, holding.class);
        assert_eq!(*comparison, Some(std::cmp::Ordering::Equal));
        assert_eq!(e.reports[0].1.held.len(), 3);
    }

    fn one_lock(t: &str) -> Option<LockInfo> {
        lock(t, &mut Classes::default())
    }

    #[test]
    fn lock_lines_of_each_era() {
        let l =
            one_lock(" (s_active#120){++++.+}, at: [<ffffffff81308073>] kernfs_remove+0x23/0x40")
                .unwrap();
        assert_eq!(l.name, "s_active#120");
        assert_eq!(l.usage, "++++.+");
        let k = l.kernel.unwrap();
        assert_eq!(k.instance, None);
        assert_eq!(
            k.at.as_deref(),
            Some("[<ffffffff81308073>] kernfs_remove+0x23/0x40")
        );
        let l = one_lock(
            "ffff88801b2e0a38 ((work_completion)(&(&dev->state_queue)->work)){+.+.}-{0:0}, at: process_one_work+0x7a/0x5e0",
        )
        .unwrap();
        assert_eq!(l.name, "(work_completion)(&(&dev->state_queue)->work)");
        assert_eq!(l.usage, "+.+.");
        let k = l.kernel.unwrap();
        assert_eq!(k.instance.as_deref(), Some("ffff88801b2e0a38"));
        assert_eq!(k.wait_context.as_deref(), Some("0:0"));
        assert_eq!(k.at.as_deref(), Some("process_one_work+0x7a/0x5e0"));
        assert!(one_lock("(x){+.+.} garbage").is_none());
        assert!(one_lock("(){+.+.}").is_none());
        assert!(one_lock("no parenthesis").is_none());
    }

    #[test]
    fn frames_of_each_era() {
        let f = frame("[<ffffffff810a8ec7>] ? lock_acquire+0x97/0x1e0").unwrap();
        assert_eq!(f.function, "? lock_acquire+0x97/0x1e0");
        let f = frame("kvm_exit+0x2d/0x80 [kvm]").unwrap();
        assert_eq!(f.function, "kvm_exit+0x2d/0x80 [kvm]");
        let f = frame("__mutex_lock_common kernel/locking/mutex.c:603 [inline]").unwrap();
        assert_eq!(f.function, "__mutex_lock_common [inline]");
        assert_eq!(f.file.as_deref(), Some("kernel/locking/mutex.c"));
        assert_eq!(f.line, Some(603));
        for not in [
            "stack backtrace:",
            "other info that might help us debug this:",
            "lock(slab_mutex);",
            "-> #0 (a){+.+.}:",
            "Call Trace:",
            "x+0xzz/0x10",
        ] {
            assert!(frame(not).is_none(), "{not}");
        }
    }

    #[test]
    fn titles_of_each_era() {
        assert_eq!(
            title("[ INFO: possible circular locking dependency detected ]"),
            Some(Ok(Kind::Circular))
        );
        assert_eq!(
            title("WARNING: possible recursive locking detected"),
            Some(Ok(Kind::Recursive))
        );
        assert_eq!(
            title("[ INFO: inconsistent lock state ]"),
            Some(Ok(Kind::Inconsistent))
        );
        assert_eq!(
            title("WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected"),
            Some(Err(
                "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected".into()
            ))
        );
        assert_eq!(
            title("WARNING: CPU: 0 PID: 1 at mm/slab.c:1 x+0x1/0x2"),
            None
        );
    }
}
