-- Argo CD health check for flagwright.dev/FeatureFlag (Lua 5.1, as Argo CD's gopher-lua runs it).
-- The operator never writes spec, so health is read from status alone:
--   Degraded    the flag was rolled back, failed analysis, or could not be projected (Ready False)
--   Suspended   a canary paused by `kubectl flagwright pause` or held at a step, or a killed flag
--   Progressing a canary ramping, or a spec generation the operator has not resolved yet
--   Healthy     Completed (a static rollout or a finished canary) or Disabled, and projected
local hs = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to resolve the flag"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = obj.status.phase
local ready = condition("Ready")
local degraded = condition("Degraded")
local progressing = condition("Progressing")
local killed = condition("Killed")

if phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = messageOf(degraded, "Rolled back to 0%")
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = messageOf(ready, "The flag is not projected")
  return hs
end
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOf(degraded, "Degraded")
  return hs
end
if killed ~= nil and killed.status == "True" then
  hs.status = "Suspended"
  hs.message = messageOf(killed, "Killed: serving off")
  return hs
end
if phase == "Paused" then
  hs.status = "Suspended"
  hs.message = messageOf(progressing, "Paused")
  return hs
end
if phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = messageOf(progressing, "Rollout in progress")
  return hs
end
if phase == "Pending" then
  hs.status = "Progressing"
  hs.message = messageOf(progressing, "Pending: waiting for the operator to start the rollout")
  return hs
end
if phase == "Completed" or phase == "Disabled" then
  if ready == nil or ready.status ~= "True" then
    hs.status = "Progressing"
    hs.message = "Waiting for the flag to be projected"
    return hs
  end
  hs.status = "Healthy"
  hs.message = messageOf(progressing, phase) .. "; " .. messageOf(ready, "projected")
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
