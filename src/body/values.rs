//! Measurement values as callers send them (`{"chest_girth": 96, ...}` in orders and saved
//! records): the checks they pass and the OpenAPI schema that states the same rules, so that a
//! client validating against the schema is never refused for a rule it could not see.

use std::collections::BTreeMap;

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Longest measurement name.
pub const MAX_NAME_LEN: usize = 64;
/// Largest plausible value of any measurement: cm (the tallest people's stature) or kg.
pub const MAX_VALUE: f64 = 300.0;

/// Why a set of values was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    /// The offending name, or `None` when the set as a whole is at fault.
    pub name: Option<String>,
    /// What is wrong, for the caller.
    pub reason: String,
}

/// Checks a set of measurement values: at least one, snake_case names of at most
/// [`MAX_NAME_LEN`] characters, values above 0 and at most [`MAX_VALUE`].
pub fn check(values: &BTreeMap<String, f64>) -> Result<(), Invalid> {
    if values.is_empty() {
        return Err(Invalid {
            name: None,
            reason: "must hold at least one value".into(),
        });
    }
    for (name, &value) in values {
        let bad = |reason: String| Invalid {
            name: Some(name.clone()),
            reason,
        };
        if name.is_empty()
            || name.len() > MAX_NAME_LEN
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad(format!(
                "names are snake_case of at most {MAX_NAME_LEN} characters, e.g. chest_girth"
            )));
        }
        if !value.is_finite() || value <= 0.0 || value > MAX_VALUE {
            return Err(bad(format!(
                "{value} is not a plausible body measurement (cm, or kg for weight)"
            )));
        }
    }
    Ok(())
}

/// The OpenAPI schema of a set of values: the rules of [`check`].
pub fn schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "Measurement name (snake_case, e.g. chest_girth) to value in cm (kg for weight).",
        ))
        .min_properties(Some(1))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(format!("^[a-z0-9_]{{1,{MAX_NAME_LEN}}}$"))),
        ))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .exclusive_minimum(Some(0.0))
                .maximum(Some(MAX_VALUE)),
        ))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, value: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([(name.to_owned(), value)])
    }

    #[test]
    fn plausible_values_pass_and_the_rest_name_the_key() {
        assert_eq!(check(&one("chest_girth", 96.0)), Ok(()));
        assert_eq!(check(&one("weight", MAX_VALUE)), Ok(()));
        assert!(check(&BTreeMap::new()).is_err_and(|e| e.name.is_none()));
        for (name, value) in [
            ("Chest", 96.0),
            ("chest girth", 96.0),
            ("", 96.0),
            ("chest_girth", 0.0),
            ("chest_girth", -1.0),
            ("chest_girth", f64::NAN),
            ("chest_girth", MAX_VALUE + 0.1),
        ] {
            let e = check(&one(name, value)).expect_err(name);
            assert_eq!(e.name.as_deref(), Some(name));
        }
        assert!(check(&one(&"a".repeat(MAX_NAME_LEN), 1.0)).is_ok());
        assert!(check(&one(&"a".repeat(MAX_NAME_LEN + 1), 1.0)).is_err());
    }

    /// The schema's name pattern and bounds are the checks' own: names it accepts pass, the
    /// ones it refuses fail, and its value bounds are the checked ones.
    #[test]
    fn the_schema_states_the_checks() {
        let doc = serde_json::to_value(schema()).unwrap_or_default();
        assert_eq!(doc["minProperties"], 1);
        assert_eq!(doc["additionalProperties"]["exclusiveMinimum"], 0.0);
        assert_eq!(doc["additionalProperties"]["maximum"], MAX_VALUE);
        let pattern = doc["propertyNames"]["pattern"].as_str().unwrap_or_default();
        let re = regex::Regex::new(pattern).expect("the pattern is a regex");
        for name in ["chest_girth", "a", "x9", &"a".repeat(MAX_NAME_LEN)] {
            assert!(re.is_match(name), "{name}");
            assert!(check(&one(name, 1.0)).is_ok(), "{name}");
        }
        for name in [
            "",
            "Chest",
            "chest-girth",
            "胸围",
            &"a".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(!re.is_match(name), "{name}");
            assert!(check(&one(name, 1.0)).is_err(), "{name}");
        }
    }
}
