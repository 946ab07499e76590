//! The demo's result documents (`demo/documents.toml`): seals and which services issue a
//! PDF. Existing settings are left as an administrator may have changed them.

use serde::Deserialize;
use sqlx::PgConnection;

#[derive(Deserialize)]
struct DocumentsFile {
    #[serde(default)]
    seals: Vec<Seal>,
    #[serde(default)]
    documents: Vec<Doc>,
}

#[derive(Deserialize)]
struct Seal {
    department: String,
    name: String,
    image: String,
}

#[derive(Deserialize)]
struct Doc {
    service: String,
    title: String,
    body: String,
    #[serde(default)]
    fields: Vec<String>,
    seal_node: Option<String>,
    seal: Option<String>,
    /// records (default) | footer
    signature_place: Option<String>,
}

pub async fn seed_documents(tx: &mut PgConnection) -> anyhow::Result<()> {
    let Some(text) = super::files::raw("documents.toml") else {
        return Ok(());
    };
    let file: DocumentsFile = toml::from_str(std::str::from_utf8(&text)?)
        .map_err(|e| anyhow::anyhow!("demo/documents.toml: {e}"))?;
    for s in &file.seals {
        let png = super::files::raw(&s.image)
            .ok_or_else(|| anyhow::anyhow!("demo/documents.toml: no file demo/{}", s.image))?;
        sqlx::query(
            "INSERT INTO seals (department_id, name, png, uploaded_at)
             SELECT d.id, $2, $3, now() FROM departments d
              WHERE d.code = $1 AND NOT EXISTS (SELECT 1 FROM seals x WHERE x.department_id = d.id)",
        )
        .bind(&s.department)
        .bind(&s.name)
        .bind(png)
        .execute(&mut *tx)
        .await?;
    }
    for d in &file.documents {
        sqlx::query(
            "INSERT INTO document_settings (service_id, title, body, fields, seal_node, seal_id,
                                            signature_place)
             SELECT s.id, $2, $3, $4, $5,
                    (SELECT x.id FROM seals x JOIN departments dp ON dp.id = x.department_id
                      WHERE dp.code = $6 AND x.retired_at IS NULL ORDER BY x.id LIMIT 1),
                    COALESCE($7, 'records')
               FROM services s WHERE s.code = $1
             ON CONFLICT (service_id) DO NOTHING",
        )
        .bind(&d.service)
        .bind(&d.title)
        .bind(&d.body)
        .bind(&d.fields)
        .bind(&d.seal_node)
        .bind(&d.seal)
        .bind(&d.signature_place)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
