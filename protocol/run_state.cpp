#include "protocol/run_state.hpp"
