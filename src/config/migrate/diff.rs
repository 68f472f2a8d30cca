//! A unified diff of two small texts (config files: a few hundred lines, so
//! the quadratic longest-common-subsequence table is cheap), with three
//! lines of context, as `diff -u` prints it.

const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Same(usize, usize),
    Del(usize),
    Add(usize),
}

fn ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..]
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Op::Same(i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(Op::Del(i));
            i += 1;
        } else {
            out.push(Op::Add(j));
            j += 1;
        }
    }
    out
}

/// `--- a` / `+++ b` and the hunks; empty when the texts are equal.
pub fn unified(a: &str, b: &str, name_a: &str, name_b: &str) -> String {
    let la: Vec<&str> = a.lines().collect();
    let lb: Vec<&str> = b.lines().collect();
    let ops = ops(&la, &lb);
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    // group changes closer than 2 × CONTEXT into one hunk
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &c in &changed {
        let start = c.saturating_sub(CONTEXT);
        let end = (c + CONTEXT + 1).min(ops.len());
        match hunks.last_mut() {
            Some(h) if start <= h.1 => h.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    let mut s = format!("--- {name_a}\n+++ {name_b}\n");
    for (start, end) in hunks {
        let slice = &ops[start..end];
        let a_start = slice.iter().find_map(|o| match o {
            Op::Same(i, _) | Op::Del(i) => Some(*i),
            Op::Add(_) => None,
        });
        let b_start = slice.iter().find_map(|o| match o {
            Op::Same(_, j) | Op::Add(j) => Some(*j),
            Op::Del(_) => None,
        });
        let a_len = slice.iter().filter(|o| !matches!(o, Op::Add(_))).count();
        let b_len = slice.iter().filter(|o| !matches!(o, Op::Del(_))).count();
        let pos = |start: Option<usize>, len: usize| match (start, len) {
            (_, 0) => format!("{},0", start.unwrap_or(0)),
            (Some(x), 1) => format!("{}", x + 1),
            (Some(x), l) => format!("{},{l}", x + 1),
            (None, l) => format!("0,{l}"),
        };
        s.push_str(&format!(
            "@@ -{} +{} @@\n",
            pos(a_start, a_len),
            pos(b_start, b_len)
        ));
        for o in slice {
            match o {
                Op::Same(i, _) => s.push_str(&format!(" {}\n", la[*i])),
                Op::Del(i) => s.push_str(&format!("-{}\n", la[*i])),
                Op::Add(j) => s.push_str(&format!("+{}\n", lb[*j])),
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_like_diff_u() {
        let a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        let b = "0\n1\n2\n3\n4\n5\n6\n7\nX\n9\n10\n11\n12\n";
        let d = unified(a, b, "a", "b");
        assert_eq!(
            d,
            "--- a\n+++ b\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n@@ -5,7 +6,7 @@\n 5\n 6\n 7\n-8\n+X\n 9\n 10\n 11\n"
        );
        assert_eq!(unified(a, a, "a", "b"), "");
    }
}
