//! A kernel log as lines: each with its number in the file and its text with
//! what the log put in front of the kernel's message taken off.
//!
//! Taken off, repeatedly: a syslog or journal prefix (`Dec  1 12:00:01 host
//! kernel: `, `2026-12-01T12:00:01+00:00 host kernel: `), a printk level
//! (`<4>`), a `dmesg` timestamp (`[  123.456789]`, or `dmesg -T`'s
//! `[Tue Dec  1 12:00:01 2026]`), a printk caller id (`[ T1211]`, `[  C3]`),
//! and mail quoting (`> `). No-break and other Unicode spaces (web archives
//! of mail are full of them) are plain spaces. Tabs are expanded to 8 columns, after the
//! prefixes are gone, so that columns are the kernel's. An address wrapped
//! after its `[<` (as mail and web archives do) is joined back.

/// One line of the log.
#[derive(Clone, Debug)]
pub struct Line {
    /// The line's number in the input, from 1.
    pub no: usize,
    /// The kernel's text: prefixes stripped, tabs expanded, no trailing
    /// white space.
    pub text: String,
}

impl Line {
    /// The text without its indentation.
    pub fn trimmed(&self) -> &str {
        self.text.trim_start()
    }

    /// The indentation's width, in columns.
    pub fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start().len()
    }
}

/// The lines of `input`, prefixes stripped.
pub fn lines(input: &str) -> Vec<Line> {
    let input: String = input
        .chars()
        .map(|c| {
            if c != '\t' && c != '\n' && c != '\r' && c.is_whitespace() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let raw: Vec<&str> = input.lines().collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let no = i + 1;
        let mut text = expand_tabs(strip_prefixes(raw[i]));
        while text.trim_end().ends_with("[<") && i + 1 < raw.len() {
            i += 1;
            let cont = strip_prefixes(raw[i]).trim().to_string();
            text = format!("{}{cont}", text.trim_end());
        }
        out.push(Line {
            no,
            text: text.trim_end().to_string(),
        });
        i += 1;
    }
    out
}

fn expand_tabs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut col = 0;
    for c in s.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

/// `s` without the prefixes a log adds in front of the kernel's message.
pub fn strip_prefixes(mut s: &str) -> &str {
    s = s.strip_suffix('\r').unwrap_or(s);
    loop {
        let before = s.len();
        s = strip_syslog(s);
        s = strip_level(s);
        s = strip_bracketed(s);
        s = strip_quote(s);
        if s.len() == before {
            return s;
        }
    }
}

/// `<host> kernel: ` after a time stamp: everything up to `kernel:`, when
/// what comes before it has a clock time and no parenthesis (so no lock or
/// frame line is taken for one).
fn strip_syslog(s: &str) -> &str {
    let Some(at) = s.find("kernel:") else {
        return s;
    };
    let head = &s[..at];
    let clock = head
        .as_bytes()
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit());
    if at > 80 || !clock || head.contains(['(', '{', '[']) || !head.ends_with(' ') {
        return s;
    }
    let rest = &s[at + "kernel:".len()..];
    rest.strip_prefix(' ').unwrap_or(rest)
}

/// A printk level, `<0>` to `<7>`.
fn strip_level(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 3 && b[0] == b'<' && b[1].is_ascii_digit() && b[2] == b'>' {
        &s[3..]
    } else {
        s
    }
}

/// `[  123.456789]`, `[Tue Dec  1 12:00:01 2026]` or `[ T1211]` at the start
/// of the line, and the one space after it.
fn strip_bracketed(s: &str) -> &str {
    let Some(inner_end) = s.strip_prefix('[').and_then(|r| r.find(']')) else {
        return s;
    };
    let inner = s[1..1 + inner_end].trim();
    let timestamp = {
        let mut parts = inner.splitn(2, '.');
        let secs = parts.next().unwrap_or("");
        let frac = parts.next();
        !secs.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && frac.is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    let caller = inner.len() >= 2
        && matches!(inner.as_bytes()[0], b'T' | b'C')
        && inner[1..].bytes().all(|b| b.is_ascii_digit());
    let human = inner.len() >= 20
        && inner.split_whitespace().count() == 5
        && inner.matches(':').count() == 2
        && inner.as_bytes()[0].is_ascii_uppercase();
    if !(timestamp || caller || human) {
        return s;
    }
    let rest = &s[2 + inner_end..];
    rest.strip_prefix(' ').unwrap_or(rest)
}

/// Mail quoting: `>` or `> ` at the start.
fn strip_quote(s: &str) -> &str {
    match s.strip_prefix('>') {
        Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped() {
        let cases = [
            ("[  123.456789] rmmod/1211 is", "rmmod/1211 is"),
            ("[  123.456789][ T1211] rmmod/1211 is", "rmmod/1211 is"),
            ("[Tue Dec  1 12:00:01 2026]  (slab_mutex)", " (slab_mutex)"),
            (
                "Dec  1 12:00:01 box kernel: [   12.5] -> #1 (a){+.+.}:",
                "-> #1 (a){+.+.}:",
            ),
            (
                "2026-12-01T12:00:01.123+00:00 box kernel:  #0: (a)",
                " #0: (a)",
            ),
            ("<4>[    1.000000] WARNING: x", "WARNING: x"),
            ("> >  lock(slab_mutex);", " lock(slab_mutex);"),
            ("Dec  1 12:00:01 box kernel:", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(strip_prefixes(raw), want, "{raw}");
        }
    }

    #[test]
    fn lock_and_frame_lines_are_kept_whole() {
        for s in [
            " (&sb->s_type->i_mutex_key#13){+.+.}-{3:3}, at: inode_lock include/linux/fs.h:758",
            "[<ffffffff81308073>] kernfs_remove+0x23/0x40",
            " kernel_init+0x10/0x20 kernel/init.c:12",
            "[ INFO: possible circular locking dependency detected ]",
        ] {
            assert_eq!(strip_prefixes(s), s);
        }
    }

    #[test]
    fn wrapped_addresses_are_joined_and_tabs_expanded() {
        let l = lines("  at: [<\nffffffff81308073>] kernfs_remove+0x23/0x40\n\t x\n");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].no, 1);
        assert_eq!(
            l[0].text,
            "  at: [<ffffffff81308073>] kernfs_remove+0x23/0x40"
        );
        assert_eq!(l[1].no, 3);
        assert_eq!(l[1].text, "         x");
        assert_eq!(l[1].indent(), 9);
        let l = lines("\u{a0}\u{a0}[\u{a0}INFO:\u{a0}x\u{a0}]");
        assert_eq!(l[0].text, "  [ INFO: x ]");
    }
}
