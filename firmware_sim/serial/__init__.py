"""Simulated serial devices on pseudo-terminals, for the edge agent to read like real hardware.

- MeterBus            CJ/T 188 water meters on one RS-485 line (fieldbus.cjt188)
- ModbusGauge         Modbus RTU river gauge served by pymodbus (fieldbus.gauge_modbus)
- CallButtonReceiver  call-button receiver writing the line protocol (fieldbus.callbutton_line)
- PtyPort / SocatPort the links; the master side opens port.path

Run one as a process with `python -m firmware_sim.serial --help`.
"""

from firmware_sim.serial.callbutton import CallButtonReceiver, LineFaults, ScriptedEvent
from firmware_sim.serial.device import LinkStats, SerialDevice
from firmware_sim.serial.gauge import GaugeInput, ModbusGauge
from firmware_sim.serial.meter_bus import CHINA_TZ, MeterBus, MeterFaults, SimMeter
from firmware_sim.serial.ports import PtyPort, SocatPort

__all__ = [
    "CHINA_TZ",
    "CallButtonReceiver",
    "GaugeInput",
    "LineFaults",
    "LinkStats",
    "MeterBus",
    "MeterFaults",
    "ModbusGauge",
    "PtyPort",
    "ScriptedEvent",
    "SerialDevice",
    "SimMeter",
    "SocatPort",
]
