//! Reading Warden's `/metrics` (OpenMetrics text) as samples, so tests compare
//! numbers by name and labels rather than searching the text.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context};

/// One sample: a name (`warden_requests_total`, `…_bucket`), its labels, its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The sample's name, suffix included.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition.
#[derive(Clone, Debug)]
pub struct Scrape {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// The text it came from (for failure messages).
    pub text: String,
}

impl Scrape {
    /// Parses OpenMetrics (or Prometheus) text; comment lines (`# HELP`, `# TYPE`,
    /// `# UNIT`, `# EOF`) are skipped. Label values are read with their escapes.
    pub fn parse(text: &str) -> anyhow::Result<Scrape> {
        let samples = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| parse_line(line).with_context(|| format!("metrics line {line:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Scrape {
            samples,
            text: text.to_string(),
        })
    }

    /// The samples named `name` whose labels include every pair of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The one sample `name` with `labels`; an error when none or several match.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        match found.as_slice() {
            [one] => Ok(one.value),
            [] => Err(anyhow!("no sample {name} {labels:?} in:\n{}", self.text)),
            _ => Err(anyhow!(
                "{} samples {name} {labels:?} (expected one) in:\n{}",
                found.len(),
                self.text
            )),
        }
    }

    /// The sum of every sample `name` with `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// True when the exposition declares a metric family `name` (`# TYPE name …`).
    pub fn declares(&self, name: &str) -> bool {
        self.text.lines().any(|line| {
            line.strip_prefix("# TYPE ")
                .and_then(|r| r.split(' ').next())
                == Some(name)
        })
    }
}

fn parse_line(line: &str) -> anyhow::Result<Sample> {
    let split = line.find(['{', ' ']).ok_or_else(|| anyhow!("no value"))?;
    let (name, mut rest) = line.split_at(split);
    let mut labels = BTreeMap::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        let end = loop {
            let Some((i, c)) = chars.next() else {
                bail!("unterminated label set");
            };
            match c {
                '}' => break i,
                ',' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        bail!("label {key} has no quoted value");
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => bail!("unterminated escape"),
                            },
                            Some(c) => value.push(c),
                            None => bail!("unterminated label value"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        };
        rest = &body[end + 1..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .ok_or_else(|| anyhow!("no value"))?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().with_context(|| format!("value {v:?}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_labels_and_escapes_are_read() {
        let text = "# HELP x_total Things.\n# TYPE x counter\n\
                    x_total{a=\"1\",b=\"q\\\"},{\"} 3\n\
                    y_bucket{le=\"+Inf\"} 2\ny 1.5e-3\n# EOF\n";
        let scrape = Scrape::parse(text).unwrap();
        assert_eq!(scrape.samples.len(), 3);
        assert_eq!(scrape.value("x_total", &[("b", "q\"},{")]).unwrap(), 3.0);
        assert_eq!(scrape.value("y", &[]).unwrap(), 0.0015);
        assert_eq!(scrape.sum("y_bucket", &[]), 2.0);
        assert!(scrape.value("x_total", &[("a", "2")]).is_err());
        assert!(scrape.declares("x") && !scrape.declares("y"));
    }
}
