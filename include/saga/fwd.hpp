#pragma once

#include <cstdint>
#include <string>

/// Forward declarations of caf-saga's public types.
namespace saga {

class definition;
class node;
class participant_builder;
class runtime;
class step_context;
class step_outcome;

struct event;
struct node_config;
struct retry_policy;
struct runtime_config;
struct saga_log;
struct saga_result;
struct saga_state;
struct step_command;
struct step_definition;
struct step_reply;
struct unfinished_page;

enum class errc : uint8_t;
enum class event_type : uint8_t;
enum class saga_status : uint8_t;
enum class step_status : uint8_t;

/// Identifies one saga instance across nodes and restarts.
using saga_id = std::string;

} // namespace saga
