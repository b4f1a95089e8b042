//! The text of guard-facing messages in English, Spanish and Brazilian Portuguese.
//!
//! Apps may translate the stable codes themselves; these texts are the project's own
//! wording, used by the CLI and available to apps that have none.

use crate::model::CheckinReason;

/// A language Vigil ships wording for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// English.
    English,
    /// Spanish.
    Spanish,
    /// Brazilian Portuguese.
    BrazilianPortuguese,
}

impl Language {
    /// Picks the language for a BCP 47 tag such as `es-MX` or `pt-BR`, falling back to
    /// English. Any Portuguese tag gets Brazilian Portuguese, the only Portuguese shipped.
    pub fn from_tag(tag: &str) -> Self {
        let primary = tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "es" => Language::Spanish,
            "pt" => Language::BrazilianPortuguese,
            _ => Language::English,
        }
    }
}

/// Returns the guard-facing text of a refused check-in reason.
pub fn checkin_reason_text(reason: &CheckinReason, language: Language) -> String {
    let params: Vec<(String, String)> =
        reason.params().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
    reason_text(reason.code(), &params, language)
}

/// Returns the guard-facing text of a check-in reason given as its stable code and
/// parameters. An unknown code gets a generic "refused" text, so an app older than its
/// server still shows something true.
pub fn reason_text(code: &str, params: &[(String, String)], language: Language) -> String {
    params.iter().fold(template(code, language).to_string(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

fn template(code: &str, language: Language) -> &'static str {
    use Language::{BrazilianPortuguese as Pt, English as En, Spanish as Es};

    match (code, language) {
        ("unknown_tag", En) => "This tag does not belong to any checkpoint of your sites.",
        ("unknown_tag", Es) => {
            "Esta etiqueta no pertenece a ningún punto de control de sus sitios."
        }
        ("unknown_tag", Pt) => {
            "Esta etiqueta não pertence a nenhum ponto de controle dos seus locais."
        }

        ("wrong_site", En) => "This checkpoint belongs to another site ({checkpoint_site_id}).",
        ("wrong_site", Es) => {
            "Este punto de control pertenece a otro sitio ({checkpoint_site_id})."
        }
        ("wrong_site", Pt) => {
            "Este ponto de controle pertence a outro local ({checkpoint_site_id})."
        }

        ("too_far", En) => {
            "You are {distance_m} m from the checkpoint (accuracy {accuracy_m} m); \
             move within {radius_m} m and scan again."
        }
        ("too_far", Es) => {
            "Está a {distance_m} m del punto de control (precisión {accuracy_m} m); \
             acérquese a menos de {radius_m} m y escanee de nuevo."
        }
        ("too_far", Pt) => {
            "Você está a {distance_m} m do ponto de controle (precisão {accuracy_m} m); \
             aproxime-se a menos de {radius_m} m e escaneie de novo."
        }

        ("fix_too_inaccurate", En) => {
            "Your location is too imprecise ({accuracy_m} m, at most {max_accuracy_m} m); \
             wait for a better signal and scan again."
        }
        ("fix_too_inaccurate", Es) => {
            "Su ubicación es demasiado imprecisa ({accuracy_m} m, máximo {max_accuracy_m} m); \
             espere una mejor señal y escanee de nuevo."
        }
        ("fix_too_inaccurate", Pt) => {
            "Sua localização está imprecisa demais ({accuracy_m} m, máximo {max_accuracy_m} m); \
             aguarde um sinal melhor e escaneie de novo."
        }

        ("no_fix", En) => "Your location is unknown; turn on location and scan again.",
        ("no_fix", Es) => "Su ubicación es desconocida; active la ubicación y escanee de nuevo.",
        ("no_fix", Pt) => "Sua localização é desconhecida; ative a localização e escaneie de novo.",

        ("mock_location", En) => {
            "Your phone reports a simulated location; turn off mock locations and scan again."
        }
        ("mock_location", Es) => {
            "Su teléfono informa una ubicación simulada; desactive las ubicaciones simuladas \
             y escanee de nuevo."
        }
        ("mock_location", Pt) => {
            "Seu celular informa uma localização simulada; desative as localizações simuladas \
             e escaneie de novo."
        }

        ("implausible_location", En) => {
            "Your location cannot be trusted right now ({flags}); wait a moment and scan again."
        }
        ("implausible_location", Es) => {
            "No se puede confiar en su ubicación ahora ({flags}); espere un momento y escanee \
             de nuevo."
        }
        ("implausible_location", Pt) => {
            "Não é possível confiar na sua localização agora ({flags}); aguarde um momento e \
             escaneie de novo."
        }

        ("outside_tour_window", En) => {
            "The tour {tour_id} is not open now; the next round opens in \
             {minutes_until_open} min."
        }
        ("outside_tour_window", Es) => {
            "La ronda {tour_id} no está abierta ahora; la próxima empieza en \
             {minutes_until_open} min."
        }
        ("outside_tour_window", Pt) => {
            "A ronda {tour_id} não está aberta agora; a próxima começa em \
             {minutes_until_open} min."
        }

        ("out_of_order", En) => {
            "This checkpoint comes before {after_checkpoint_id} in tour {tour_id}, which you \
             already scanned this round; go on with the next checkpoints."
        }
        ("out_of_order", Es) => {
            "Este punto de control va antes de {after_checkpoint_id} en la ronda {tour_id}, \
             que ya escaneó en esta vuelta; siga con los puntos siguientes."
        }
        ("out_of_order", Pt) => {
            "Este ponto de controle vem antes de {after_checkpoint_id} na ronda {tour_id}, \
             que você já escaneou nesta volta; siga com os próximos pontos."
        }

        ("too_soon", En) => {
            "Only {seconds_since_last_scan} s since the last scan of tour {tour_id}; \
             checkpoints must be at least {min_seconds} s apart."
        }
        ("too_soon", Es) => {
            "Solo {seconds_since_last_scan} s desde el último escaneo de la ronda {tour_id}; \
             deben pasar al menos {min_seconds} s entre puntos de control."
        }
        ("too_soon", Pt) => {
            "Apenas {seconds_since_last_scan} s desde a última leitura da ronda {tour_id}; \
             devem passar pelo menos {min_seconds} s entre pontos de controle."
        }

        ("weak_signal", En) => {
            "The beacon's signal ({rssi_dbm} dBm) is weaker than {min_rssi_dbm} dBm; move \
             next to it and scan again."
        }
        ("weak_signal", Es) => {
            "La señal de la baliza ({rssi_dbm} dBm) es más débil que {min_rssi_dbm} dBm; \
             acérquese a ella y escanee de nuevo."
        }
        ("weak_signal", Pt) => {
            "O sinal do beacon ({rssi_dbm} dBm) está mais fraco que {min_rssi_dbm} dBm; \
             aproxime-se dele e escaneie de novo."
        }

        ("unverified_tag", En) => {
            "This tag's signature is not valid ({problem}); it may be a copy or altered. \
             Report it to the control room."
        }
        ("unverified_tag", Es) => {
            "La firma de esta etiqueta no es válida ({problem}); puede ser una copia o estar \
             alterada. Infórmelo a la central."
        }
        ("unverified_tag", Pt) => {
            "A assinatura desta etiqueta não é válida ({problem}); pode ser uma cópia ou estar \
             alterada. Informe a central."
        }

        (_, En) => "The check-in was refused.",
        (_, Es) => "El registro fue rechazado.",
        (_, Pt) => "O registro foi recusado.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_far_fills_parameters_in_each_language() {
        let reason = CheckinReason::TooFar { distance_m: 1002.4, accuracy_m: 8.0, radius_m: 20.0 };
        for language in [Language::English, Language::Spanish, Language::BrazilianPortuguese] {
            let text = checkin_reason_text(&reason, language);
            assert!(text.contains("1002 m"), "{language:?}: {text}");
            assert!(text.contains("20 m"), "{language:?}: {text}");
            assert!(!text.contains('{'), "{language:?}: {text}");
        }
    }

    #[test]
    fn every_code_has_its_own_text() {
        let reasons = [
            CheckinReason::UnknownTag,
            CheckinReason::WrongSite { checkpoint_site_id: "s".into() },
            CheckinReason::TooFar { distance_m: 1.0, accuracy_m: 1.0, radius_m: 1.0 },
            CheckinReason::FixTooInaccurate { accuracy_m: 1.0, max_accuracy_m: 1.0 },
            CheckinReason::NoFix,
            CheckinReason::MockLocation,
            CheckinReason::UnverifiedTag { problem: "bad_signature".into() },
            CheckinReason::WeakSignal { rssi_dbm: Some(-90), min_rssi_dbm: -70 },
            CheckinReason::ImplausibleLocation { flags: vec!["implausible_speed".into()] },
            CheckinReason::OutsideTourWindow { tour_id: "t".into(), minutes_until_open: 5 },
            CheckinReason::OutOfOrder { tour_id: "t".into(), after_checkpoint_id: "c".into() },
            CheckinReason::TooSoon {
                tour_id: "t".into(),
                seconds_since_last_scan: 4,
                min_seconds: 60,
            },
        ];
        for language in [Language::English, Language::Spanish, Language::BrazilianPortuguese] {
            let fallback = template("not_a_code", language);
            for reason in &reasons {
                assert_ne!(template(reason.code(), language), fallback, "{}", reason.code());
                let text = checkin_reason_text(reason, language);
                assert!(!text.contains('{'), "{language:?} {}: {text}", reason.code());
            }
        }
    }

    #[test]
    fn language_tags_resolve() {
        assert_eq!(Language::from_tag("es-MX"), Language::Spanish);
        assert_eq!(Language::from_tag("pt_PT"), Language::BrazilianPortuguese);
        assert_eq!(Language::from_tag("fr"), Language::English);
    }
}
