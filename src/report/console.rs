//! The analysis record as console lines: what `analyze` prints after writing `analysis.json`.
//!
//! Renders the record and nothing else, like the HTML and Markdown report.

use crate::analysis::mentalalign::{self, Protocol};
use crate::analysis::Analysis;
use crate::report::view::fixed;

/// The judges' verdicts as console lines, one per judge and measure, under a header naming
/// the rule; empty without judges.
pub fn verdict_lines(analysis: &Analysis) -> String {
    let mut out = String::new();
    if analysis.judges.is_empty() {
        return out;
    }
    out += &format!(
        "judge verdicts ({} 95% CI lower bound on Koo & Li 2016 bands; bias = judge - experts):\n",
        crate::analysis::verdict::VERDICT_ICC_FORM
    );
    for judge in &analysis.judges {
        for verdict in &judge.verdicts {
            out += &format!("{} / {}: {}\n", judge.judge, verdict.measure, verdict.text);
        }
    }
    out
}

/// The protocol's name as `--protocol` spells it.
pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Careful => "careful",
        Protocol::Published => "published",
    }
}

/// The MentalAlign results of the chosen protocol as console lines (release only): per judge
/// and attribute the source-level ICCs with bootstrap CIs and label, bias and MSE.
pub fn mentalalign_lines(analysis: &Analysis) -> String {
    let Some(section) = &analysis.mentalalign else { return String::new() };
    let results = match section.protocol {
        Protocol::Published => &section.published,
        Protocol::Careful => &section.careful,
    };
    let mut out = format!(
        "MentalAlign, {} protocol (source-level ICCs with 95% bootstrap CIs over sources; bias and MSE over item pairs):\n",
        protocol_name(section.protocol)
    );
    let ci = |ci: Option<mentalalign::SourceBootstrap>| {
        ci.map_or_else(|| "no CI".to_owned(), |c| format!("{} to {}", fixed(c.ci95.low, 3, false), fixed(c.ci95.high, 3, false)))
    };
    let number = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |x| fixed(x, 3, false));
    for r in results {
        out += &format!(
            "{} / {}: ICC(C,1) = {} ({}; {}), ICC(A,1) = {} ({}), bias = {}, MSE = {}, {} sources, {} pairs\n",
            r.judge,
            r.attribute,
            number(r.icc_c1),
            ci(r.icc_c1_ci),
            r.reliability.map_or("no label", |l| match l {
                mentalalign::Reliability::Good => "good reliability",
                mentalalign::Reliability::Moderate => "moderate reliability",
                mentalalign::Reliability::Poor => "poor reliability",
            }),
            number(r.icc_a1),
            ci(r.icc_a1_ci),
            number(r.bias),
            number(r.mse),
            r.sources.len(),
            r.n_pairs
        );
    }
    out
}
