//! The HTML page in a real browser: headless Chromium draws the page of a
//! kernel log's class graph, and the screenshot's pixels must show every
//! class of the reported cycle in its box, filled with the highlight colour,
//! and every other class not highlighted; a dependency's stack must show
//! when it is opened.
//!
//! The page writes where the browser put each class box (`<pre
//! id="layout">`); `--dump-dom` reads it back. Without Chromium the test
//! skips, saying so, unless `CI` is set: there it must run (.ci/run installs
//! Debian's `chromium`). `LOCKDEP_GRAPH_PNG=path` keeps the seed's
//! screenshot. (docs/graph.png is the README's two-process example: the
//! records of tests/merge.rs's `half_transfer` and `half_report`, drawn by
//! `cargo lockdep graph <dir> --html`, opened at `#dep-0` in this browser.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 800;

fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("LOCKDEP_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Runs the browser on `url` with `args`, at most a minute; its stdout.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--force-device-scale-factor=1",
            &format!("--window-size={WIDTH},{HEIGHT}"),
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the browser");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "{} {args:?} {url}: {status}",
                browser.display()
            );
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{} {args:?} {url}: no answer in 60 s", browser.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// A class box where the browser drew it.
#[derive(Debug)]
struct Placed {
    name: String,
    cycle: bool,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// The text of the element that starts with `open` in the dumped DOM.
fn element_text<'a>(dom: &'a str, open: &str) -> Option<&'a str> {
    let start = dom.find(open)?;
    let body = &dom[start..];
    let body = &body[body.find('>')? + 1..];
    Some(&body[..body.find("</")?])
}

fn placed(dom: &str) -> Vec<Placed> {
    let text = element_text(dom, "<pre id=\"layout\"").expect("the layout element");
    let v: serde_json::Value = serde_json::from_str(&unescape(text)).expect("layout JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|p| Placed {
            name: p["name"].as_str().unwrap().to_string(),
            cycle: p["cycle"].as_bool().unwrap(),
            x: p["x"].as_f64().unwrap(),
            y: p["y"].as_f64().unwrap(),
            w: p["w"].as_f64().unwrap(),
            h: p["h"].as_f64().unwrap(),
        })
        .collect()
}

/// An RGB picture.
struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

fn decode(path: &Path) -> Picture {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(path).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("screenshot colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Picture {
        width: info.width,
        height: info.height,
        rgb,
    }
}

fn hex_colour(s: &str) -> [u8; 3] {
    let h = s.trim_start_matches('#');
    let c = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap();
    [c(0), c(2), c(4)]
}

fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 10)
}

impl Picture {
    /// Pixels inside the box (3 px in from its border) that `pick`
    /// accepts, and how many pixels were looked at.
    fn count(&self, b: &Placed, pick: impl Fn([u8; 3]) -> bool) -> (usize, usize) {
        let (x0, y0) = ((b.x + 3.0).ceil() as u32, (b.y + 3.0).ceil() as u32);
        let x1 = ((b.x + b.w - 3.0).floor() as u32).min(self.width);
        let y1 = ((b.y + b.h - 3.0).floor() as u32).min(self.height);
        let mut hits = 0;
        let mut all = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                all += 1;
                if pick(self.rgb[(y * self.width + x) as usize]) {
                    hits += 1;
                }
            }
        }
        (hits, all)
    }
}

/// The colour a CSS rule of the page gives `property` in `selector`.
fn css_colour(page: &str, selector: &str, property: &str) -> [u8; 3] {
    let rule = &page[page.find(&format!("{selector} {{")).expect(selector)..];
    let rule = &rule[..rule.find('}').unwrap()];
    let at = rule.find(&format!("{property}: #")).expect(property) + property.len() + 2;
    hex_colour(&rule[at..at + 7])
}

/// Draws `log`'s page, screenshots it, and checks the cycle's boxes:
/// `cycle` are the classes of the reported cycle, `others` the rest.
fn check(browser: &Path, log: &str, cycle: &[&str], others: &[&str], keep: Option<PathBuf>) {
    let dir = std::env::temp_dir().join(format!(
        "lockdep-screenshot-{}-{}",
        std::process::id(),
        log.replace(['/', '.'], "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let input = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernel")
        .join(log);
    let html = dir.join("graph.html");
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-lockdep"))
        .args(["lockdep", "graph"])
        .arg(&input)
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    // Self-contained: no file, style sheet, script or font is fetched.
    for fetch in [
        "<link",
        "src=",
        "url(http",
        "@import",
        "fetch(",
        "XMLHttpRequest",
    ] {
        assert!(!page.contains(fetch), "the page fetches something: {fetch}");
    }
    let highlight = css_colour(&page, ".cls.cycle rect", "fill");
    let plain = css_colour(&page, ".cls rect", "fill");
    let cycle_edge = css_colour(&page, ".dep.cycle path", "stroke");
    let url = format!("file://{}", html.display());

    let shot = dir.join("graph.png");
    browse(
        browser,
        &dir.join("profile"),
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    let dom = browse(browser, &dir.join("profile"), &["--dump-dom"], &url);
    let boxes = placed(&dom);
    let picture = decode(&shot);
    assert_eq!((picture.width, picture.height), (WIDTH, HEIGHT));

    let mut names: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = cycle.iter().chain(others).copied().collect();
    want.sort_unstable();
    assert_eq!(names, want, "the classes drawn");
    for b in &boxes {
        assert!(
            b.x >= 0.0 && b.y >= 0.0 && b.x + b.w <= WIDTH as f64 && b.y + b.h <= HEIGHT as f64,
            "{b:?} is not on screen"
        );
        let (lit, all) = picture.count(b, |p| near(p, highlight));
        let (flat, _) = picture.count(b, |p| near(p, plain));
        let (ink, _) = picture.count(b, |p| p.iter().all(|&c| c < 110));
        assert!(all > 200, "{b:?}: box too small to measure");
        assert!(
            ink >= 20,
            "{}: no label drawn in its box ({ink} dark pixels)",
            b.name
        );
        if cycle.contains(&b.name.as_str()) {
            assert!(b.cycle, "{}: not marked as in the cycle", b.name);
            assert!(
                lit * 2 > all,
                "{}: {lit} of {all} pixels in the highlight colour {highlight:?}",
                b.name
            );
        } else {
            assert!(!b.cycle, "{}: marked as in a cycle", b.name);
            assert!(
                lit * 100 < all,
                "{}: highlighted ({lit} of {all} pixels)",
                b.name
            );
            assert!(flat * 2 > all, "{}: not drawn as a plain class", b.name);
        }
    }
    // The cycle's arrows are drawn in their colour between the boxes.
    let edge_pixels = picture.rgb.iter().filter(|&&p| near(p, cycle_edge)).count();
    assert!(
        edge_pixels > 100 * cycle.len(),
        "{edge_pixels} pixels of the cycle's arrows"
    );

    // A dependency opened (as a click does, through the address): its stack.
    let data: serde_json::Value = serde_json::from_str(&unescape(
        element_text(&dom, "<script type=\"application/json\" id=\"graph-data\"").unwrap(),
    ))
    .unwrap();
    let first = &data["deps"][0];
    let frame = first["stack"][2]
        .as_str()
        .expect("a stack of 3 frames or more");
    let opened = browse(
        browser,
        &dir.join("profile"),
        &["--dump-dom"],
        &format!("{url}#dep-0"),
    );
    let stack = element_text(&opened, "<pre class=\"stack\" id=\"stack\"").expect("a stack shown");
    assert!(unescape(stack).contains(frame), "{stack}");
    assert!(opened.contains("class=\"dep cycle selected\" data-dep=\"0\">"));

    if let Some(keep) = keep {
        std::fs::copy(&shot, keep).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cycle_is_drawn_and_highlighted() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no chromium was found: .ci/run installs Debian's `chromium`"
        );
        eprintln!("SKIPPED the_cycle_is_drawn_and_highlighted: no chromium on PATH (apt-get install chromium)");
        return;
    };
    check(
        &browser,
        "seed-slub-4.10.txt",
        &["slab_mutex", "s_active#120"],
        &["cpu_hotplug.dep_map"],
        std::env::var_os("LOCKDEP_GRAPH_PNG").map(PathBuf::from),
    );
    check(
        &browser,
        "circular-5.10-syslog.log",
        &[
            "&mm->mmap_lock#2",
            "&ei->i_mmap_sem",
            "&sb->s_type->i_mutex_key#14",
        ],
        &["sb_writers#3"],
        None,
    );
}
