//! Reader for the ESICUP nesting XML format (`<nesting>` with `<problem>`, `<polygons>`),
//! as distributed with the benchmark instances of the EURO Special Interest Group on
//! Cutting and Packing.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::{Error, Piece, Point, Problem};

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn attr<'a>(node: Node<'a, '_>, name: &str) -> Result<&'a str, Error> {
    node.attribute(name).ok_or_else(|| {
        Error::Esicup(format!(
            "<{}> at byte {} lacks attribute {name}",
            node.tag_name().name(),
            node.range().start
        ))
    })
}

fn number(node: Node<'_, '_>, name: &str) -> Result<f64, Error> {
    let text = attr(node, name)?;
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::Esicup(format!(
            "attribute {name}={text:?} of <{}> is not a finite number",
            node.tag_name().name()
        ))),
    }
}

/// Reads a polygon's vertices from its `<lines>` segments (the start point of each segment).
fn polygon(node: Node<'_, '_>) -> Result<Vec<Point>, Error> {
    let id = node.attribute("id").unwrap_or("?");
    let lines = child(node, "lines")
        .ok_or_else(|| Error::Esicup(format!("polygon {id} has no <lines>")))?;
    let mut segments = children(lines, "segment")
        .map(|s| {
            let n = attr(s, "n").ok().and_then(|n| n.trim().parse::<u64>().ok());
            Ok((
                n,
                Point {
                    x: number(s, "x0")?,
                    y: number(s, "y0")?,
                },
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    segments.sort_by_key(|(n, _)| *n);
    let mut outline: Vec<Point> = Vec::with_capacity(segments.len());
    for (_, p) in segments {
        // Scanned instances repeat vertices; the polygon is the same without them.
        if outline.last() != Some(&p) {
            outline.push(p);
        }
    }
    if outline.len() > 1 && outline.first() == outline.last() {
        outline.pop();
    }
    if outline.len() < 3 {
        return Err(Error::Esicup(format!(
            "polygon {id} has {} distinct vertices, needs 3",
            outline.len()
        )));
    }
    Ok(outline)
}

/// A lot or board piece: its quantity, allowed rotations and polygon (offset applied).
fn piece(node: Node<'_, '_>, polygons: &HashMap<&str, Node<'_, '_>>) -> Result<Piece, Error> {
    let id = attr(node, "id")?.to_string();
    let quantity = attr(node, "quantity")?
        .trim()
        .parse::<usize>()
        .map_err(|_| Error::Esicup(format!("piece {id}: quantity is not a whole number")))?;
    let mut rotations = match child(node, "orientation") {
        Some(o) => children(o, "enumeration")
            .map(|e| number(e, "angle"))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![],
    };
    if rotations.is_empty() {
        rotations.push(0.0);
    }
    rotations.dedup();
    let mut components = children(node, "component");
    let component = components
        .next()
        .ok_or_else(|| Error::Esicup(format!("piece {id} has no <component>")))?;
    if components.next().is_some() {
        return Err(Error::Esicup(format!(
            "piece {id} has several components; only single-polygon pieces are supported"
        )));
    }
    let polygon_id = attr(component, "idPolygon")?;
    let poly = polygons.get(polygon_id).ok_or_else(|| {
        Error::Esicup(format!("piece {id} refers to unknown polygon {polygon_id}"))
    })?;
    let (dx, dy) = (
        number(component, "xOffset").unwrap_or(0.0),
        number(component, "yOffset").unwrap_or(0.0),
    );
    let outline = polygon(*poly)?
        .into_iter()
        .map(|p| Point {
            x: p.x + dx,
            y: p.y + dy,
        })
        .collect();
    Ok(Piece {
        id,
        outline,
        quantity,
        rotations,
    })
}

/// Parses an ESICUP XML instance. The roll width is the board's extent in y; the board's
/// length is ignored (the strip is open-ended). The result is validated with
/// [`Problem::validate`], so pieces wider than the roll are reported here.
pub fn parse(xml: &str) -> Result<Problem, Error> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "nesting" {
        return Err(Error::Esicup(format!(
            "root element is <{}>, expected <nesting>",
            root.tag_name().name()
        )));
    }
    let name = child(root, "name")
        .and_then(|n| n.text())
        .map_or_else(|| "unnamed".to_string(), |t| t.trim().to_lowercase());
    let polygons: HashMap<&str, Node> = child(root, "polygons")
        .ok_or_else(|| Error::Esicup("no <polygons> section".into()))?
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "polygon")
        .filter_map(|p| p.attribute("id").map(|id| (id, p)))
        .collect();
    let problem =
        child(root, "problem").ok_or_else(|| Error::Esicup("no <problem> section".into()))?;
    let boards =
        child(problem, "boards").ok_or_else(|| Error::Esicup("no <boards> section".into()))?;
    let board = children(boards, "piece")
        .next()
        .ok_or_else(|| Error::Esicup("no board piece".into()))?;
    let board = piece(board, &polygons)?;
    let (lo, hi) = board
        .outline
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.y), hi.max(p.y))
        });
    let lot = child(problem, "lot").ok_or_else(|| Error::Esicup("no <lot> section".into()))?;
    let pieces = children(lot, "piece")
        .map(|p| piece(p, &polygons))
        .collect::<Result<Vec<_>, _>>()?;
    let problem = Problem {
        name,
        strip_width: hi - lo,
        min_gap: 0.0,
        pieces,
        defects: vec![],
    };
    problem.validate()?;
    Ok(problem)
}
