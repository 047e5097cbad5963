//! A remediation exactly as Rapid7's InsightVM plugin outputs it (`top_remediations`, types
//! `remediation`, `remediation_asset`, `remediation_vulnerability`: docs/halo-api.md#RP14),
//! checked field by field so a bad one is named before anything is written.

use serde_json::Value;

/// One InsightVM solution and what it fixes.
#[derive(Debug, Clone, PartialEq)]
pub struct Remediation {
    pub solution_id: Option<i64>,
    pub nexpose_id: String,
    pub summary: String,
    pub fix: String,
    pub asset_count: i64,
    pub vulnerability_count: i64,
    pub risk_score: i64,
    pub assets: Vec<Asset>,
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Asset {
    pub id: i64,
    pub host_name: String,
    pub ip: String,
    pub os: String,
    pub risk_score: i64,
    pub criticality: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vulnerability {
    pub id: String,
    pub title: String,
    pub cvss: String,
    pub severity: Option<i64>,
    pub risk_score: i64,
}

/// A field that is not what InsightVM gives: its path (`remediations[2].nexposeId`) and what
/// was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub expected: String,
}

struct Fields<'a> {
    obj: &'a serde_json::Map<String, Value>,
    path: String,
}

impl Fields<'_> {
    fn bad(&self, name: &str, expected: &str) -> Invalid {
        Invalid { field: format!("{}.{name}", self.path), expected: expected.into() }
    }

    fn text(&self, name: &str) -> Result<Option<String>, Invalid> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // InsightVM's CSV reports give numbers as text and the plugin passes some through.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.bad(name, "text")),
        }
    }

    /// A whole number; a float (the asset `riskScore` is typed float) is rounded.
    fn number(&self, name: &str) -> Result<Option<i64>, Invalid> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.round() as i64)) {
                Some(v) if v >= 0 => Ok(Some(v)),
                _ => Err(self.bad(name, "a number of 0 or more")),
            },
            Some(Value::String(s)) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() && f >= 0.0 => Ok(Some(f.round() as i64)),
                _ => Err(self.bad(name, "a number of 0 or more")),
            },
            Some(_) => Err(self.bad(name, "a number of 0 or more")),
        }
    }

    fn list(&self, name: &str) -> Result<&[Value], Invalid> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(self.bad(name, "a list")),
        }
    }
}

fn fields<'a>(v: &'a Value, path: String) -> Result<Fields<'a>, Invalid> {
    match v.as_object() {
        Some(obj) => Ok(Fields { obj, path }),
        None => Err(Invalid { field: path, expected: "an object (one remediation of InsightVM's Top Remediations)".into() }),
    }
}

/// Every remediation of the input, or the first field that is wrong. A `nexposeId` that repeats
/// is wrong too: two entries cannot both be the solution's ticket.
pub fn parse_all(values: &[Value]) -> Result<Vec<Remediation>, Invalid> {
    let mut out: Vec<Remediation> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let r = parse(v, format!("remediations[{i}]"))?;
        if let Some(first) = out.iter().position(|o| o.nexpose_id == r.nexpose_id) {
            return Err(Invalid {
                field: format!("remediations[{i}].nexposeId"),
                expected: format!("a solution not listed before (`{}` is also remediations[{first}])", r.nexpose_id),
            });
        }
        out.push(r);
    }
    Ok(out)
}

fn parse(v: &Value, path: String) -> Result<Remediation, Invalid> {
    let f = fields(v, path)?;
    let nexpose_id = f.text("nexposeId")?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let nexpose_id = nexpose_id.ok_or_else(|| f.bad("nexposeId", "the solution's InsightVM ID, e.g. `ubuntu-upgrade-openssl`"))?;
    let mut assets = Vec::new();
    for (j, a) in f.list("assets")?.iter().enumerate() {
        let a = fields(a, format!("{}.assets[{j}]", f.path))?;
        assets.push(Asset {
            id: a.number("id")?.ok_or_else(|| a.bad("id", "the asset's InsightVM ID"))?,
            host_name: a.text("hostName")?.unwrap_or_default(),
            ip: a.text("ip")?.unwrap_or_default(),
            os: a.text("os")?.unwrap_or_default(),
            risk_score: a.number("riskScore")?.unwrap_or(0),
            criticality: a.text("criticalityTag")?.unwrap_or_default(),
        });
    }
    let mut vulnerabilities = Vec::new();
    for (j, x) in f.list("vulnerabilities")?.iter().enumerate() {
        let x = fields(x, format!("{}.vulnerabilities[{j}]", f.path))?;
        vulnerabilities.push(Vulnerability {
            id: x.text("id")?.ok_or_else(|| x.bad("id", "the vulnerability's InsightVM ID"))?,
            title: x.text("title")?.unwrap_or_default(),
            cvss: x.text("cvssScore")?.unwrap_or_default(),
            severity: x.number("severity")?,
            risk_score: x.number("riskScore")?.unwrap_or(0),
        });
    }
    Ok(Remediation {
        solution_id: f.number("solutionId")?,
        summary: f.text("summary")?.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| nexpose_id.clone()),
        fix: f.text("fix")?.unwrap_or_default(),
        // The lists may be cut by the InsightVM step's limits; the counts are not (RP14).
        asset_count: f.number("assetCount")?.unwrap_or(assets.len() as i64),
        vulnerability_count: f.number("vulnerabilityCount")?.unwrap_or(vulnerabilities.len() as i64),
        risk_score: f.number("riskScore")?.unwrap_or(0),
        nexpose_id,
        assets,
        vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plugin_output_and_its_bad_fields() {
        let full = json!({"solutionId": 7, "nexposeId": "ubuntu-upgrade-openssl", "summary": "Upgrade openssl", "fix": "apt-get upgrade openssl",
            "assetCount": 3, "vulnerabilityCount": 2, "riskScore": 1520,
            "assets": [{"id": 11, "hostName": "web-1", "ip": "10.0.0.1", "mac": "", "os": "Ubuntu 22.04", "riskScore": 812.6, "criticalityTag": "High"}],
            "vulnerabilities": [{"id": "ubuntu-cve-2024-1", "title": "OpenSSL flaw", "description": "d", "cvssScore": "7.5", "severity": 8, "riskScore": 700}]});
        let r = parse_all(&[full]).unwrap_or_default();
        assert_eq!(r[0].asset_count, 3, "the count, not the cut list");
        assert_eq!(r[0].assets[0].risk_score, 813);
        assert_eq!(r[0].vulnerabilities[0].cvss, "7.5");
        let minimal = parse_all(&[json!({"nexposeId": "x"})]).unwrap_or_default();
        assert_eq!((minimal[0].summary.as_str(), minimal[0].asset_count), ("x", 0));
        let err = |v: Value| parse_all(&[json!({"nexposeId": "ok"}), v]).err().map(|e| e.field).unwrap_or_default();
        assert_eq!(err(json!({"summary": "no id"})), "remediations[1].nexposeId");
        assert_eq!(err(json!({"nexposeId": "  "})), "remediations[1].nexposeId");
        assert_eq!(err(json!({"nexposeId": "ok"})), "remediations[1].nexposeId", "a repeat");
        assert_eq!(err(json!({"nexposeId": "y", "assetCount": -1})), "remediations[1].assetCount");
        assert_eq!(err(json!({"nexposeId": "y", "assets": [{"hostName": "h"}]})), "remediations[1].assets[0].id");
        assert_eq!(err(json!({"nexposeId": "y", "vulnerabilities": "many"})), "remediations[1].vulnerabilities");
        assert_eq!(err(json!("text")), "remediations[1]");
    }
}
