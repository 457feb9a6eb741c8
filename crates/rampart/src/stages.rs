//! Wires the engines' stages into each API from its configuration. Each engine
//! validates its own section; its errors are reported with the config file, the
//! section's line and the field path.

use std::fmt::Display;
use std::sync::Arc;

use rampart_config::{Api, Config, ConfigError, ConfigErrors, Located};
use rampart_core::Stage;
use rampart_gateway::StageFactory;

/// The production stage factory.
#[derive(Debug, Default)]
pub struct EngineStages;

impl StageFactory for EngineStages {
    fn stages(&self, config: &Config, api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        let index = config
            .apis
            .iter()
            .position(|a| a.name == api.name)
            .unwrap_or(0);
        let mut wiring = Wiring {
            config,
            field: format!("apis[{index}]"),
            stages: Vec::new(),
            errors: Vec::new(),
        };
        let sections = &api.engines;
        if let Some(section) = &sections.openapi {
            wiring.add(section, "openapi", |openapi| {
                let compiled = Arc::new(openapi.build(&config.base_dir)?);
                let stages: Vec<Arc<dyn Stage>> = vec![
                    Arc::new(rampart_openapi::RouteStage::new(compiled.clone())),
                    Arc::new(rampart_openapi::ValidationStage::new(compiled)),
                ];
                Ok::<_, rampart_openapi::BuildError>(stages)
            });
        }
        if let Some(section) = &sections.waf {
            wiring.add(section, "waf", |waf| {
                let mut waf = waf.clone();
                for rule in &mut waf.rules {
                    *rule = config.base_dir.join(&*rule);
                }
                let stage: Arc<dyn Stage> = Arc::new(rampart_waf::WafStage::new(&waf)?);
                Ok::<_, rampart_waf::WafConfigError>(vec![stage])
            });
        }
        if wiring.errors.is_empty() {
            Ok(wiring.stages)
        } else {
            Err(ConfigErrors(wiring.errors))
        }
    }
}

/// Collects the stages and errors of one API.
struct Wiring<'a> {
    config: &'a Config,
    field: String,
    stages: Vec<Arc<dyn Stage>>,
    errors: Vec<ConfigError>,
}

impl Wiring<'_> {
    fn add<T, E: Display>(
        &mut self,
        section: &Located<T>,
        name: &str,
        build: impl FnOnce(&T) -> Result<Vec<Arc<dyn Stage>>, E>,
    ) {
        match build(&section.value) {
            Ok(stages) => self.stages.extend(stages),
            Err(error) => self.errors.push(ConfigError::new(
                &self.config.source,
                section.line(),
                format!("{}.{name}", self.field),
                error.to_string(),
            )),
        }
    }
}
