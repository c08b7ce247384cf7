//! JUnit XML, as Jenkins, GitLab and most CI systems read test results: one `<testsuite>`
//! for the architecture, one `<testcase>` per check (its category as the class name), a
//! `<failure>` with the verdict, hint and section for a check the server failed, an
//! `<error>` for one the grader itself could not run. The score, seed and program are the
//! suite's properties.

use quick_xml::events::BytesText;
use quick_xml::Writer;

use super::{failure_text, Outcome, Report};
use crate::verdict::Kind;

pub fn render(report: &Report) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write(&mut writer, report).expect("writing to memory cannot fail");
    let body = String::from_utf8(writer.into_inner()).expect("the writer writes UTF-8");
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n")
}

fn write(w: &mut Writer<Vec<u8>>, report: &Report) -> std::io::Result<()> {
    let tests = report.outcomes.len().to_string();
    let errors = report.outcomes.iter().filter(|o| grader_failed(o)).count();
    let failures = report.outcomes.iter().filter(|o| !o.passed).count() - errors;
    let (failures, errors) = (failures.to_string(), errors.to_string());
    let time = seconds(report.duration);
    let counts = [
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", errors.as_str()),
        ("time", time.as_str()),
    ];
    w.create_element("testsuites")
        .with_attribute(("name", "workbook"))
        .with_attributes(counts)
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attribute(("name", report.arch.as_str()))
                .with_attributes(counts)
                .with_attribute(("skipped", "0"))
                .write_inner_content(|w| {
                    properties(w, report)?;
                    for o in &report.outcomes {
                        testcase(w, report, o)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    Ok(())
}

fn properties(w: &mut Writer<Vec<u8>>, report: &Report) -> std::io::Result<()> {
    let (score, max, seed) = (
        report.score().to_string(),
        report.max_score().to_string(),
        report.seed.to_string(),
    );
    w.create_element("properties").write_inner_content(|w| {
        for (name, value) in [
            ("score", score.as_str()),
            ("max_score", max.as_str()),
            ("seed", seed.as_str()),
            ("program", report.program.as_str()),
        ] {
            w.create_element("property")
                .with_attribute(("name", name))
                .with_attribute(("value", xml_text(value).as_str()))
                .write_empty()?;
        }
        Ok(())
    })?;
    Ok(())
}

fn testcase(w: &mut Writer<Vec<u8>>, report: &Report, o: &Outcome) -> std::io::Result<()> {
    let class = format!("{}.{}", report.arch, o.check.category.name());
    let time = seconds(o.duration);
    let case = w
        .create_element("testcase")
        .with_attribute(("name", o.check.id))
        .with_attribute(("classname", class.as_str()))
        .with_attribute(("time", time.as_str()));
    if o.passed {
        case.write_empty()?;
        return Ok(());
    }
    let element = if grader_failed(o) { "error" } else { "failure" };
    let first = xml_text(o.message.lines().next().unwrap_or_default());
    let body = xml_text(&failure_text(o, &report.replay));
    let points = format!("0/{} points", o.check.points);
    case.write_inner_content(|w| {
        w.create_element(element)
            .with_attribute(("message", first.as_str()))
            .with_attribute(("type", points.as_str()))
            .write_text_content(BytesText::new(&body))?;
        Ok(())
    })?;
    Ok(())
}

/// A check the grader could not run is an error, not the server's failure.
fn grader_failed(o: &Outcome) -> bool {
    o.kind == Some(Kind::Grader)
}

fn seconds(d: std::time::Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// `text` with the characters XML 1.0 cannot hold, even escaped, replaced (the grader
/// escapes what a server prints, but this format must never be the one that breaks).
fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c < ' ' && !matches!(c, '\t' | '\n' | '\r') {
                char::REPLACEMENT_CHARACTER
            } else {
                c
            }
        })
        .collect()
}
