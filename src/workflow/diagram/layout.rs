//! A layered layout of a small directed graph, top to bottom (Sugiyama in miniature):
//! layers by the longest path from the roots, long edges through dummy points so they
//! run beside the boxes, an order within each layer from a depth-first visit refined by
//! barycentres, x from a least-squares fit that keeps that order, and edges routed with
//! right angles. Pure geometry: sizes in, positions and routes out.

/// Free space around the drawing.
pub const MARGIN: f64 = 12.0;
/// Vertical space between two rows.
const GAP: f64 = 30.0;
/// Space under the labels in a gap (for a turn into a node and its arrow).
const LABEL_BELOW: f64 = 20.0;
/// Where a fan of edges leaving one node turns sideways, below that node's row.
const FAN_OUT: f64 = 14.0;
/// Where edges joining into one node turn, above that node.
const FAN_IN: f64 = 12.0;
/// Space between an edge's turn and its label.
const LABEL_PAD: f64 = 6.0;
/// Horizontal space between neighbours in a row: boxes, and a box and a passing edge.
const GAP_X: f64 = 20.0;
const GAP_X_DUMMY: f64 = 14.0;

/// A box to place: extents left and right of its centre line (edges leave and enter
/// there), its height, and whether it belongs in the bottom row (end nodes).
#[derive(Debug, Clone)]
pub struct Vertex {
    pub left: f64,
    pub right: f64,
    pub height: f64,
    pub bottom: bool,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Width and height of the label drawn on the edge just below its source.
    pub label: Option<(f64, f64)>,
}

/// `x` is the centre line, `y` the top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub x: f64,
    pub y: f64,
    pub layer: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// From the source's bottom to the target's top (or, for an edge that closes a cycle,
    /// the other way round), every turn a right angle.
    pub points: Vec<(f64, f64)>,
    /// Centre of the label.
    pub label: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<Placed>,
    /// One per input edge; `None` for a self-loop or an edge to a missing vertex.
    pub edges: Vec<Option<Route>>,
}

/// A point of the layered graph: a vertex, or a dummy on a long edge.
struct Item {
    vertex: Option<usize>,
    layer: usize,
    left: f64,
    right: f64,
    height: f64,
    x: f64,
    up: Vec<usize>,
    down: Vec<usize>,
}

pub fn layout(vs: &[Vertex], es: &[Edge]) -> Layout {
    let n = vs.len();
    if n == 0 {
        return Layout {
            width: 2.0 * MARGIN,
            height: 2.0 * MARGIN,
            nodes: Vec::new(),
            edges: es.iter().map(|_| None).collect(),
        };
    }
    // Usable edges, with those closing a cycle turned round (a draft may have one).
    let usable: Vec<Option<(usize, usize, bool)>> = {
        let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, e) in es.iter().enumerate() {
            if e.from < n && e.to < n && e.from != e.to {
                out_edges[e.from].push(i);
            }
        }
        let mut reversed = vec![false; es.len()];
        let mut colour = vec![0u8; n];
        fn dfs(
            v: usize,
            es: &[Edge],
            out_edges: &[Vec<usize>],
            colour: &mut [u8],
            reversed: &mut [bool],
        ) {
            colour[v] = 1;
            for &i in &out_edges[v] {
                let t = es[i].to;
                match colour[t] {
                    0 => dfs(t, es, out_edges, colour, reversed),
                    1 => reversed[i] = true,
                    _ => {}
                }
            }
            colour[v] = 2;
        }
        for v in 0..n {
            if colour[v] == 0 {
                dfs(v, es, &out_edges, &mut colour, &mut reversed);
            }
        }
        es.iter()
            .enumerate()
            .map(|(i, e)| {
                (e.from < n && e.to < n && e.from != e.to).then(|| {
                    if reversed[i] {
                        (e.to, e.from, true)
                    } else {
                        (e.from, e.to, false)
                    }
                })
            })
            .collect()
    };
    let layer = layers(vs, &usable);
    let mut items: Vec<Item> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| Item {
            vertex: Some(i),
            layer: layer[i],
            left: v.left,
            right: v.right,
            height: v.height,
            x: 0.0,
            up: Vec::new(),
            down: Vec::new(),
        })
        .collect();
    // Each edge as a chain of items, one per layer it passes.
    let mut chains: Vec<Option<Vec<usize>>> = Vec::with_capacity(es.len());
    // The tallest label in each gap below a row (0: none).
    let mut labelled_gaps = vec![0.0f64; layer.iter().max().map_or(1, |m| m + 1)];
    for (i, u) in usable.iter().enumerate() {
        let Some((a, b, _)) = *u else {
            chains.push(None);
            continue;
        };
        let mut chain = vec![a];
        for l in layer[a] + 1..layer[b] {
            items.push(Item {
                vertex: None,
                layer: l,
                left: 0.0,
                right: 0.0,
                height: 0.0,
                x: 0.0,
                up: Vec::new(),
                down: Vec::new(),
            });
            chain.push(items.len() - 1);
        }
        chain.push(b);
        for w in chain.windows(2) {
            items[w[0]].down.push(w[1]);
            items[w[1]].up.push(w[0]);
        }
        if let Some((lw, lh)) = es[i].label {
            // The label sits on the first segment, centred on the item below the source.
            let first = chain[1];
            items[first].left = items[first].left.max(lw / 2.0);
            items[first].right = items[first].right.max(lw / 2.0);
            labelled_gaps[layer[a]] = labelled_gaps[layer[a]].max(lh);
        }
        chains.push(Some(chain));
    }
    let rows = order(&items, layer.iter().max().copied().unwrap_or(0) + 1);
    place_x(&mut items, &rows);

    // Rows top to bottom.
    let row_h: Vec<f64> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|&i| items[i].height)
                .fold(0.0, f64::max)
                .max(8.0)
        })
        .collect();
    let mut row_top = Vec::with_capacity(rows.len());
    let mut y = MARGIN;
    for (l, h) in row_h.iter().enumerate() {
        row_top.push(y);
        y += h;
        if l + 1 < rows.len() {
            y += if labelled_gaps[l] > 0.0 {
                FAN_OUT + LABEL_PAD + labelled_gaps[l] + LABEL_BELOW
            } else {
                GAP
            };
        }
    }
    let height = y + MARGIN;
    for it in &mut items {
        it.x = it.x.round();
    }
    straighten(&mut items, &rows);
    let min_x = items
        .iter()
        .map(|it| it.x - it.left)
        .fold(f64::INFINITY, f64::min);
    let max_x = items
        .iter()
        .map(|it| it.x + it.right)
        .fold(f64::NEG_INFINITY, f64::max);
    // Whole pixels: boxes and lines on the pixel grid.
    let shift = (MARGIN - min_x).round();
    for it in &mut items {
        it.x += shift;
    }
    let width = (max_x + shift + MARGIN).ceil();
    let top = |i: usize| row_top[items[i].layer] + (row_h[items[i].layer] - items[i].height) / 2.0;
    let bottom = |i: usize| top(i) + items[i].height;

    let nodes: Vec<Placed> = (0..n)
        .map(|i| Placed {
            x: items[i].x,
            y: top(i),
            layer: items[i].layer,
        })
        .collect();

    let edges = chains
        .iter()
        .zip(&usable)
        .zip(es)
        .map(|((chain, u), e)| {
            let chain = chain.as_ref()?;
            let reversed = u.is_some_and(|u| u.2);
            let mut cx = items[chain[0]].x;
            let mut pts: Vec<(f64, f64)> = vec![(cx, bottom(chain[0]))];
            let mut label = None;
            for (k, w) in chain.windows(2).enumerate() {
                let (a, b) = (w[0], w[1]);
                let l = items[a].layer;
                let gap_top = row_top[l] + row_h[l];
                let gap_bottom = row_top[l + 1];
                // A pixel or so apart is drawn straight (rounding), not as a tiny jog.
                let (xa, xb) = if (cx - items[b].x).abs() < 2.0 {
                    (cx, cx)
                } else {
                    (cx, items[b].x)
                };
                cx = xb;
                let fan_out = items[a].vertex.is_some() && items[a].down.len() > 1;
                let fan_in = items[b].vertex.is_some() && items[b].up.len() > 1;
                let turn = if fan_out {
                    gap_top + FAN_OUT
                } else if fan_in || labelled_gaps[l] > 0.0 {
                    gap_bottom - FAN_IN
                } else {
                    (gap_top + gap_bottom) / 2.0
                };
                if xa != xb {
                    pts.push((xa, turn));
                    pts.push((xb, turn));
                }
                if k == 0
                    && let Some((_, lh)) = e.label
                {
                    label = Some((xb, gap_top + FAN_OUT + LABEL_PAD + lh / 2.0));
                }
                if items[b].vertex.is_some() {
                    pts.push((xb, top(b)));
                } else {
                    pts.push((xb, row_top[items[b].layer] + row_h[items[b].layer]));
                }
            }
            let mut pts = simplify(pts);
            if reversed {
                pts.reverse();
            }
            Some(Route { points: pts, label })
        })
        .collect();
    Layout {
        width,
        height: height.ceil(),
        nodes,
        edges,
    }
}

/// Layers by the longest path from a root; bottom vertices in the last layer.
fn layers(vs: &[Vertex], usable: &[Option<(usize, usize, bool)>]) -> Vec<usize> {
    let n = vs.len();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b, _) in usable.iter().flatten() {
        out[a].push(b);
        indeg[b] += 1;
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).rev().filter(|&v| indeg[v] == 0).collect();
    while let Some(v) = ready.pop() {
        for &t in &out[v] {
            layer[t] = layer[t].max(layer[v] + 1);
            indeg[t] -= 1;
            if indeg[t] == 0 {
                ready.push(t);
            }
        }
    }
    // Sinks marked bottom share the last row; an end reached by a short path is not left
    // half-way up.
    let last = layer.iter().copied().max().unwrap_or(0);
    for (v, vx) in vs.iter().enumerate() {
        if vx.bottom && out[v].is_empty() {
            layer[v] = last;
        }
    }
    layer
}

/// Items per layer, left to right: first seen in a depth-first visit from the top, then
/// improved by barycentre sweeps while that lowers the number of crossings.
fn order(items: &[Item], layers: usize) -> Vec<Vec<usize>> {
    let mut seen = vec![usize::MAX; items.len()];
    let mut counter = 0;
    fn visit(i: usize, items: &[Item], seen: &mut [usize], counter: &mut usize) {
        if seen[i] != usize::MAX {
            return;
        }
        seen[i] = *counter;
        *counter += 1;
        for &d in &items[i].down {
            visit(d, items, seen, counter);
        }
    }
    for l in 0..layers {
        for (i, it) in items.iter().enumerate() {
            if it.layer == l {
                visit(i, items, &mut seen, &mut counter);
            }
        }
    }
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, it) in items.iter().enumerate() {
        rows[it.layer].push(i);
    }
    for r in &mut rows {
        r.sort_by_key(|&i| seen[i]);
    }
    let mut best = rows.clone();
    let mut best_cross = crossings(items, &rows);
    for _ in 0..6 {
        if best_cross == 0 {
            break;
        }
        for down in [true, false] {
            let ls: Vec<usize> = if down {
                (1..layers).collect()
            } else {
                (0..layers.saturating_sub(1)).rev().collect()
            };
            for l in ls {
                let pos = position_of(items.len(), &rows);
                let mut keyed: Vec<(f64, usize)> = rows[l]
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| {
                        let ns = if down { &items[i].up } else { &items[i].down };
                        let key = if ns.is_empty() {
                            k as f64
                        } else {
                            ns.iter().map(|&j| pos[j] as f64).sum::<f64>() / ns.len() as f64
                        };
                        (key, i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                rows[l] = keyed.into_iter().map(|(_, i)| i).collect();
            }
            let c = crossings(items, &rows);
            if c < best_cross {
                best_cross = c;
                best = rows.clone();
            }
        }
    }
    best
}

fn position_of(n: usize, rows: &[Vec<usize>]) -> Vec<usize> {
    let mut pos = vec![0; n];
    for r in rows {
        for (k, &i) in r.iter().enumerate() {
            pos[i] = k;
        }
    }
    pos
}

fn crossings(items: &[Item], rows: &[Vec<usize>]) -> usize {
    let pos = &position_of(items.len(), rows);
    let mut total = 0;
    for r in rows {
        let segs: Vec<(usize, usize)> = r
            .iter()
            .flat_map(|&a| items[a].down.iter().map(move |&b| (pos[a], pos[b])))
            .collect();
        for (i, s) in segs.iter().enumerate() {
            for t in &segs[i + 1..] {
                if (s.0 < t.0 && s.1 > t.1) || (s.0 > t.0 && s.1 < t.1) {
                    total += 1;
                }
            }
        }
    }
    total
}

/// x by block coordinate descent on Σ w·(x_a − x_b)² over the edges, each row solved
/// exactly under its order and spacing (an isotonic regression): branches spread evenly
/// under the node that opens them, the node that closes them centred, long edges straight.
fn place_x(items: &mut [Item], rows: &[Vec<usize>]) {
    let sep = |a: &Item, b: &Item| {
        a.right
            + b.left
            + if a.vertex.is_some() && b.vertex.is_some() {
                GAP_X
            } else {
                GAP_X_DUMMY
            }
    };
    for r in rows {
        let mut x = 0.0;
        for (k, &i) in r.iter().enumerate() {
            if k > 0 {
                x += sep(&items[r[k - 1]], &items[i]);
            }
            items[i].x = x;
        }
        let mid = x / 2.0;
        for &i in r {
            items[i].x -= mid;
        }
    }
    // Long edges and plain chains (one way out of a, one way into b) pull hardest: they
    // are the lines that should run straight down.
    let weight = |a: &Item, b: &Item| {
        if a.vertex.is_none() && b.vertex.is_none() {
            4.0
        } else if a.down.len() == 1 && b.up.len() == 1 {
            3.0
        } else {
            1.0
        }
    };
    let sweep: Vec<usize> = (0..rows.len()).chain((0..rows.len()).rev()).collect();
    for _ in 0..80 {
        for &l in &sweep {
            let r = &rows[l];
            if r.is_empty() {
                continue;
            }
            let mut target = Vec::with_capacity(r.len());
            let mut weights = Vec::with_capacity(r.len());
            for &i in r {
                let (mut s, mut w) = (0.0, 0.0);
                let ups = items[i].up.iter().map(|&j| (j, true));
                let downs = items[i].down.iter().map(|&j| (j, false));
                for (j, above) in ups.chain(downs) {
                    let wj = if above {
                        weight(&items[j], &items[i])
                    } else {
                        weight(&items[i], &items[j])
                    };
                    s += wj * items[j].x;
                    w += wj;
                }
                if w == 0.0 {
                    target.push(items[i].x);
                    weights.push(1e-3);
                } else {
                    target.push(s / w);
                    weights.push(w);
                }
            }
            let seps: Vec<f64> = r
                .windows(2)
                .map(|p| sep(&items[p[0]], &items[p[1]]))
                .collect();
            let xs = fit(&target, &weights, &seps);
            for (k, &i) in r.iter().enumerate() {
                items[i].x = xs[k];
            }
        }
    }
}

/// Near-vertical lines made vertical: an item a few pixels off a neighbour (a split over
/// branches of unequal widths), or the second of a plain chain (one way out, one way in)
/// at any distance, moves onto it where its row leaves room.
fn straighten(items: &mut [Item], rows: &[Vec<usize>]) {
    const NEAR: f64 = 6.0;
    let sep = |a: &Item, b: &Item| {
        a.right
            + b.left
            + if a.vertex.is_some() && b.vertex.is_some() {
                GAP_X
            } else {
                GAP_X_DUMMY
            }
    };
    for _ in 0..3 {
        for r in rows {
            for (k, &i) in r.iter().enumerate() {
                let x = items[i].x;
                let chain = match items[i].up.as_slice() {
                    [u] if items[*u].down.len() == 1 && items[*u].x != x => Some(items[*u].x),
                    _ => None,
                };
                let near = items[i]
                    .up
                    .iter()
                    .chain(&items[i].down)
                    .map(|&j| items[j].x)
                    .filter(|nx| *nx != x && (nx - x).abs() < NEAR)
                    .min_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs()));
                let Some(nx) = chain.or(near) else { continue };
                let fits_left =
                    k == 0 || nx - items[r[k - 1]].x >= sep(&items[r[k - 1]], &items[i]);
                let fits_right =
                    k + 1 == r.len() || items[r[k + 1]].x - nx >= sep(&items[i], &items[r[k + 1]]);
                if fits_left && fits_right {
                    items[i].x = nx;
                }
            }
        }
    }
}

/// The positions closest to `target` (weighted least squares) with
/// `x[k+1] − x[k] ≥ seps[k]`: pool adjacent violators on the shifted targets.
fn fit(target: &[f64], weights: &[f64], seps: &[f64]) -> Vec<f64> {
    let mut offset = Vec::with_capacity(target.len());
    let mut acc = 0.0;
    for k in 0..target.len() {
        if k > 0 {
            acc += seps[k - 1];
        }
        offset.push(acc);
    }
    // Blocks of (weighted sum, weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for k in 0..target.len() {
        blocks.push((weights[k] * (target[k] - offset[k]), weights[k], 1));
        while blocks.len() > 1 {
            let (s1, w1, c1) = blocks[blocks.len() - 2];
            let (s2, w2, c2) = blocks[blocks.len() - 1];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, w1 + w2, c1 + c2);
        }
    }
    let mut out = Vec::with_capacity(target.len());
    for (s, w, c) in blocks {
        for _ in 0..c {
            out.push(s / w + offset[out.len()]);
        }
    }
    out
}

/// Drops points that continue a straight line.
fn simplify(pts: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
    for p in pts {
        if out.last() == Some(&p) {
            continue;
        }
        if out.len() >= 2 {
            let a = out[out.len() - 2];
            let b = out[out.len() - 1];
            if (a.0 == b.0 && b.0 == p.0) || (a.1 == b.1 && b.1 == p.1) {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}
