//! Wires the engines' stages into each API from its configuration. Engines land
//! here one by one as they are integrated.

use std::sync::Arc;

use rampart_config::{Api, Config, ConfigErrors};
use rampart_core::Stage;
use rampart_gateway::StageFactory;

/// The production stage factory.
#[derive(Debug, Default)]
pub struct EngineStages;

impl StageFactory for EngineStages {
    fn stages(&self, _config: &Config, _api: &Api) -> Result<Vec<Arc<dyn Stage>>, ConfigErrors> {
        Ok(Vec::new())
    }
}
