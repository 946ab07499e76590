//! Result documents: the first download of a 在读证明 (made, sealed, signed and stored),
//! a repeat download (the stored file), and the PDF made in-process alone, next to
//! `/readyz` in the same run. Sequential, one request at a time: the cost of one document.
//!
//! cargo bench --bench documents   (BENCH_DOCS=40)
//! Uses DATABASE_URL when set, else an embedded cluster in a temp folder.

mod common;

use std::time::{Duration, Instant};

use common::{env, pct, session};
use service_hall::{config::Settings, documents::pdf};

fn main() -> anyhow::Result<()> {
    service_hall::init_tls();
    service_hall::telemetry::init();
    let server = common::Server::open()?;
    let rt = common::Server::runtime()?;
    let r = rt.block_on(run(server.opts.clone()));
    drop(server);
    r
}

fn row(label: &str, lat: &mut [Duration], reference: f64) -> f64 {
    lat.sort();
    let (p50, p99) = (pct(lat, 0.5), pct(lat, 0.99));
    let ratio = if reference > 0.0 {
        p50 / reference
    } else {
        1.0
    };
    println!(
        "{label:<40} {:>6} {p50:>9.2} {p99:>9.2} {ratio:>10.1}",
        lat.len()
    );
    p50
}

async fn run(opts: sqlx::postgres::PgConnectOptions) -> anyhow::Result<()> {
    let n = env("BENCH_DOCS", 40);
    let db = common::BenchDb::demo(
        &opts,
        "hall_docbench",
        Settings::defaults().db_max_connections,
    )
    .await?;
    let pool = db.pool.clone();
    let mut settings = Settings::defaults();
    settings.ip_max_failures = 1_000_000;
    settings.background_jobs = false;
    let served = common::serve(&pool, settings).await?;
    let base = served.base.clone();
    let (student, token) = session(&base, "S2024001").await?;
    let (registrar, rtoken) = session(&base, "T4101").await?;
    let sid: i64 = sqlx::query_scalar("SELECT id FROM services WHERE code = 'ZDZM'")
        .fetch_one(&pool)
        .await?;

    // n finished 在读证明, each submitted and approved over HTTP.
    let mut ids = Vec::new();
    for _ in 0..n {
        let once = uuid::Uuid::new_v4().to_string();
        let r = student
            .post(format!("{base}/services/{sid}/apply"))
            .form(&[
                ("_csrf", token.as_str()),
                ("once", once.as_str()),
                ("intent", "submit"),
                ("f.lang", "中文"),
                ("f.purpose", "实习就业"),
                ("f.copies", "1"),
                ("f.delivery", "下载电子版"),
            ])
            .send()
            .await?;
        anyhow::ensure!(r.status() == 303, "submit: {}", r.status());
        let loc = r.headers()["location"].to_str()?.to_owned();
        let id: i64 = loc.trim_start_matches("/applications/").parse()?;
        let version: i32 = sqlx::query_scalar("SELECT version FROM applications WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await?;
        let r = registrar
            .post(format!("{base}/applications/{id}/act"))
            .form(&[
                ("_csrf", rtoken.as_str()),
                ("op", "approve"),
                ("node", "registrar"),
                ("comment", "同意"),
                ("version", version.to_string().as_str()),
            ])
            .send()
            .await?;
        anyhow::ensure!(r.status().is_redirection(), "approve: {}", r.status());
        ids.push(id);
    }

    let time = |c: &reqwest::Client, url: String| {
        let c = c.clone();
        async move {
            let t = Instant::now();
            let r = c.get(url).send().await.expect("request");
            assert_eq!(r.status(), 200);
            let len = r.bytes().await.expect("body").len();
            (t.elapsed(), len)
        }
    };
    let mut readyz = Vec::new();
    for _ in 0..200 {
        readyz.push(time(&student, format!("{base}/readyz")).await.0);
    }
    let (mut first, mut again, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        let (t, len) = time(&student, format!("{base}/applications/{id}/document.pdf")).await;
        first.push(t);
        sizes.push(len);
        again.push(
            time(&student, format!("{base}/applications/{id}/document.pdf"))
                .await
                .0,
        );
    }
    // The PDF alone, in this process (the font already loaded by the downloads above).
    let font = pdf::font(std::path::Path::new(
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    ))?;
    // A handwritten signature as the pad posts it, kept as the hall keeps it.
    let signature = {
        use base64::Engine;
        let mut img = image::RgbaImage::new(1200, 400);
        for x in 100..1100u32 {
            for t in 0..6 {
                let y = (200.0 + (x as f32 / 60.0).sin() * 90.0) as u32 + t;
                img.put_pixel(x, y, image::Rgba([20, 24, 60, 255]));
            }
        }
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
        let posted = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png)
        );
        service_hall::workflow::signature::parse(&posted).map_err(|m| anyhow::anyhow!(m))?
    };
    let mut render = Vec::new();
    let mut signed_size = 0;
    for i in 0..n {
        let c = pdf::Content {
            portal: "网上办事服务大厅".into(),
            title: "在读证明".into(),
            paragraphs: vec![
                format!(
                    "兹证明 张三（学号 S2024{i:03}）系我校计算机学院全日制在读学生，学籍状态正常。"
                ),
                "特此证明。".into(),
            ],
            rows: vec![
                pdf::Row::Field("证明类型".into(), "中文".into()),
                pdf::Row::Field("证明用途".into(), "实习就业".into()),
            ],
            approvals: vec![pdf::Approval {
                node: "教务处学籍科审核".into(),
                who: "刘芳".into(),
                at: "2026-12-03 10:00".into(),
                signature: Some(signature.clone()),
            }],
            signature_place: pdf::SignaturePlace::Records,
            department: "教务处".into(),
            serial: format!("ZDZM-2026-{i:06}"),
            issued: "2026年12月03日".into(),
            code: "ABCD-EFGH-JKMN".into(),
            verify_url: "http://127.0.0.1:8080/verify/ABCD-EFGH-JKMN".into(),
            seal: Some(std::fs::read(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/demo/seals/ACA.png"
            ))?),
        };
        let t = Instant::now();
        let bytes = pdf::render(&font, &c)?;
        render.push(t.elapsed());
        signed_size = bytes.len();
        std::hint::black_box(bytes);
    }
    sizes.sort();
    println!(
        "{n} documents; machine: {} cores; PDF size median {} bytes, max {} bytes; \
         with a handwritten signature (in process) {signed_size} bytes",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        sizes[sizes.len() / 2],
        sizes[sizes.len() - 1]
    );
    println!(
        "{:<40} {:>6} {:>9} {:>9} {:>10}",
        "request", "n", "p50 ms", "p99 ms", "/ readyz"
    );
    let reference = row("/readyz (reference)", &mut readyz, 0.0);
    row(
        "first download (made, signed, stored)",
        &mut first,
        reference,
    );
    row("repeat download (stored)", &mut again, reference);
    row("PDF rendered in process", &mut render, reference);
    served.stop().await?;
    db.drop_db().await?;
    Ok(())
}
