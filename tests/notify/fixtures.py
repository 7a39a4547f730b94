"""Shared by the notify and console tests: a registry whose contacts point at local receivers, a config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shouwang.config import Config

HEADER = ("record,code,parent,name,flags,sleep,window_h,away_until,gateway,kind,interval_s,step_l,warning_m,"
          "guaranteed_m,rise_m_per_h,schedule,types,role,channels,language,quiet_hours")


def registry_csv(http_port: int, smtp_port: int, suffix: str = "") -> str:
    """Two grids, three households, a river station; every contact reaches a local receiver."""
    h = f"127.0.0.1:{http_port}"
    mail = f"mailto://127.0.0.1:{smtp_port}?from=shouwang@example.org&to=duty@example.org&mode=insecure"
    rows = [
        "street,st-01,,Qianjin Street,,,,,,,,,,,,,,,,,",
        "community,cm-01,st-01,Riverside Community,,,,,,,,,,,,,,,,,",
        "grid,gr-01,cm-01,Grid 1,,,,,,,,,,,,,,,,,",
        "grid,gr-02,cm-01,Grid 2,,,,,,,,,,,,,,,,,",
        "building,bd-01,gr-01,Building 3,,,,,,,,,,,,,,,,,",
        "building,bd-02,gr-02,Building 7,,,,,,,,,,,,,,,,,",
        "household,hh-0001,bd-01,Room 301,solitary_elderly,22:00-06:30,7,,,,,,,,,,,,,,",
        "household,hh-0002,bd-01,Room 302,solitary_elderly,22:00-06:30,7,,,,,,,,,,,,,,",
        "household,hh-0003,bd-02,Room 101,solitary_elderly,22:00-06:30,7,,,,,,,,,,,,,,",
        "station,rs-01,cm-01,Qing River gauge,,,,,,,,,3.5,4.5,0.3,,,,,,",
        f"device,btn-0001{suffix},hh-0001,,,,,,gw-a,call_button,3600,,,,,,,,,,",
        f"device,btn-0002{suffix},hh-0002,,,,,,gw-a,call_button,3600,,,,,,,,,,",
        f"device,btn-0003{suffix},hh-0003,,,,,,gw-b,call_button,3600,,,,,,,,,,",
        f"device,wm-0001{suffix},hh-0001,,,,,,gw-a,water_meter,60,1,,,,,,,,,",
        f"device,rg-01{suffix},rs-01,,,,,,gw-b,river_gauge,300,,,,,,,,,,",
        f"contact,c-gw1,gr-01,Wang Fang,,,,,,,,,,,,,,grid_worker,json://{h}/hook/c-gw1,zh,",
        "contact,c-gw2,gr-02,Li Lei,,,,,,,,,,,,,,grid_worker,wecombot://KEYGW2,en,",
        "contact,c-cm,cm-01,Zhao Min,,,,,,,,,,,,,,community_duty,dingtalk://TOKCM,zh,",
        f"contact,c-st,st-01,Sun Qiang,,,,,,,,,,,,,,street_duty,{mail},en,",
        f"contact,c-fam1,hh-0001,Chen Jie,,,,,,,,,,,,,,family,ntfy://{h}/fam1,zh,",
        f"contact,c-fam2,hh-0002,Liu Yang,,,,,,,,,,,,,,family,json://{h}/hook/c-fam2,en,22:00-07:00",
        "contact,c-fam3,hh-0003,Zhou Min,,,,,,,,,,,,,,family,feishu://TOKF3,zh,",
    ]
    return HEADER + "\n" + "\n".join(rows) + "\n"


def make_config(state: Path, http_port: int, **sections: Any) -> Config:
    """A config whose bot relays point at the local HTTP receiver and whose retries are quick."""
    relay = {"wecombot": f"http://127.0.0.1:{http_port}/cgi-bin/webhook/send?key={{key}}",
             "dingtalk": f"http://127.0.0.1:{http_port}/robot/send?access_token={{token}}",
             "feishu": f"http://127.0.0.1:{http_port}/open-apis/bot/v2/hook/{{token}}/"}
    data: dict[str, Any] = {"state_dir": str(state),
                            "notify": {"enabled": True, "retry_base_s": 0.05, "retry_max_s": 0.2, "max_attempts": 3, "timeout_s": 3,
                                       "relay": relay},
                            "api": {"public_url": "http://console.test", "secret_key": "k" * 40}}
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return Config.model_validate(data)
