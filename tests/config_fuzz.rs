//! Property-based fuzzing of the project's parsers (today: the
//! `LOCKDEP_ACTION` value). Runs in the normal test run; `PROPTEST_CASES=N`
//! runs more cases.

use lockdep::config::{ConfigError, ENV_ACTION};
use lockdep::Action;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// What a value should parse to, decided independently of the parser.
fn parse_action(value: &str) -> Result<Action, ConfigError> {
    value.parse()
}

fn expected(value: &str) -> Option<&'static str> {
    match value.trim().to_ascii_lowercase().as_str() {
        "panic" => Some("Panic"),
        "print" => Some("Print"),
        "silent" => Some("Silent"),
        _ => None,
    }
}

fn check(value: &str) -> Result<(), TestCaseError> {
    match (parse_action(value), expected(value)) {
        (Ok(action), Some(name)) => prop_assert_eq!(format!("{action:?}"), name),
        (
            Err(ConfigError {
                variable,
                value: found,
                expected,
            }),
            None,
        ) => {
            prop_assert_eq!(variable, ENV_ACTION);
            prop_assert_eq!(&found, value);
            prop_assert_eq!(expected, "panic, print, silent");
            let message = parse_action(value).unwrap_err().to_string();
            prop_assert!(message.starts_with("lockdep: LOCKDEP_ACTION="));
            let quoted = format!("{:?}", value);
            prop_assert!(message.contains(&quoted));
        }
        (got, want) => prop_assert!(false, "{:?}: got {:?}, want {:?}", value, got, want),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Any string at all: never a panic, and the verdict is the expected one.
    #[test]
    fn any_string(value in any::<String>()) {
        check(&value)?;
    }

    /// The valid words in any case, with any surrounding white space, and
    /// near misses made by inserting or changing one character.
    #[test]
    fn near_valid(
        word in prop::sample::select(vec!["panic", "print", "silent"]),
        upper in prop::collection::vec(any::<bool>(), 6),
        before in "[ \t\n]{0,3}",
        after in "[ \t\n]{0,3}",
        edit in prop::option::of((0usize..7, any::<char>())),
    ) {
        let mut word: String = word
            .chars()
            .zip(upper.iter().chain(std::iter::repeat(&false)))
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        if let Some((at, c)) = edit {
            let at = at.min(word.len());
            word.insert(at, c);
        }
        check(&format!("{before}{word}{after}"))?;
    }
}

#[test]
fn known_values() {
    assert!(matches!(parse_action("panic"), Ok(Action::Panic)));
    assert!(matches!(parse_action("\tSILENT\n"), Ok(Action::Silent)));
    assert!(parse_action("").is_err());
    assert!(parse_action("print print").is_err());
}
