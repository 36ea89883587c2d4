"""Write ``ledger.xlsx``, a synthetic sample 整改情况清单 for Huaibei (淮北市).

This is synthetic sample data (示例数据，根据公开报告虚构，非真实台账). Its shape is modelled on
the public report of Huaibei city on its rectification of the feedback (反馈意见) of the 2019
provincial ecological-environment inspection (省级生态环境保护督察): 68 rectification tasks, of
which 66 were completed (已销号) and 2 were still in progress (整改中) as of 28 March 2021, and
accountability for 3 party organisations and 7 cadres (3 at 县处级, 4 at 乡科级). The problem
statements, measures, leaders, people, towns and dates below are invented; they are not real
records and must not be cited as such.

The output is deterministic: the content uses no randomness beyond ``random.Random(2019)``, and
the zip entries and document timestamps are pinned, so rerunning the script reproduces the same
bytes.

Run: ``.venv/bin/python examples/huaibei-2019/make_sample.py``
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

OUT = Path(__file__).parent / "ledger.xlsx"
PINNED = datetime(2021, 3, 28, 9, 0, 0)

AIR = "大气污染防治"
WATER = "水污染防治"
SOIL = "土壤和固体废物污染防治"
ECO = "生态保护与修复"
SUP = "环境监管与执法"

EEB = "市生态环境局"
HUD = "市住房城乡建设局"
NRP = "市自然资源和规划局"
WAT = "市水务局"
AGR = "市农业农村局"
URB = "市城市管理局"
TRA = "市交通运输局"
DRC = "市发展改革委"
EIT = "市经济和信息化局"
FOR = "市林业局"
COM = "市商务局"
PSB = "市公安局"
HEA = "市卫生健康委"
JUS = "市司法局"

# (问题类别, 反馈问题, 整改目标, 整改措施, 牵头单位, 责任单位)
ISSUES: list[tuple[str, str, str, str, str, str]] = [
    (AIR, "杜集区部分建筑工地扬尘管控措施落实不到位",
     "全区在建工地全面落实扬尘防控“六个百分之百”要求。",
     "开展建筑工地扬尘专项检查，督促安装围挡、喷淋和在线监测设备，对不达标工地停工整改。",
     HUD, "杜集区"),
    (AIR, "相山区城区道路保洁不到位，道路扬尘污染问题突出",
     "城区主次干道机械化清扫率达到90%以上。",
     "增加洗扫车辆配置，实行“以克论净”考核，加大渣土车抛洒滴漏查处力度。",
     URB, "相山区"),
    (AIR, "濉溪县部分燃煤锅炉未按期完成淘汰",
     "县城建成区10蒸吨/小时及以下燃煤锅炉全部淘汰。",
     "建立燃煤锅炉淘汰清单，逐台落实拆除或清洁能源改造，完成后组织现场核查。",
     EEB, "濉溪县"),
    (AIR, "烈山区部分企业挥发性有机物治理设施运行不正常",
     "涉挥发性有机物重点企业治理设施稳定运行、达标排放。",
     "开展挥发性有机物专项执法检查，督促企业更换治理材料，建立设施运行台账。",
     EEB, "烈山区"),
    (AIR, "全市重点行业超低排放改造进度滞后",
     "按期完成燃煤电厂和焦化企业超低排放改造任务。",
     "制定改造计划并逐企调度，对未按期完成改造的企业依法实施限产措施。",
     EEB, "市经济和信息化局、濉溪县"),
    (AIR, "杜集区部分煤矸石堆场未采取有效抑尘措施",
     "煤矸石堆场全部实现封闭或覆盖抑尘。",
     "对煤矸石堆场逐一建档，落实覆盖、喷淋、围挡等措施，推进煤矸石综合利用。",
     EIT, "杜集区、烈山区"),
    (AIR, "部分乡镇秸秆露天焚烧现象时有发生",
     "实现秸秆禁烧“零火点”目标。",
     "落实网格化监管责任，推广秸秆综合利用，对焚烧行为依法处罚并追究责任。",
     AGR, "濉溪县、烈山区、杜集区"),
    (AIR, "相山区部分餐饮单位油烟净化设施未正常使用",
     "城区餐饮单位油烟净化设施安装率和正常使用率达到100%。",
     "开展餐饮油烟专项整治，督促定期清洗净化设施，对超标排放单位依法查处。",
     URB, "相山区"),
    (AIR, "部分重型柴油货车尾气排放超标，路检路查力度不够",
     "机动车排放检验和路检路查实现常态化。",
     "联合开展柴油货车路检路查和入户抽检，对超标车辆依法处罚并督促维修治理。",
     EEB, "市公安局、市交通运输局"),
    (AIR, "濉溪县部分砖瓦窑企业污染治理设施不完善",
     "砖瓦窑企业全部完成深度治理或依法关停。",
     "对砖瓦窑企业逐一排查，完成脱硫除尘设施升级改造，关停不具备改造条件的企业。",
     EIT, "濉溪县"),
    (AIR, "“散乱污”企业整治不彻底，部分企业关停后死灰复燃",
     "“散乱污”企业动态清零，杜绝反弹。",
     "开展“回头看”排查，对已取缔企业断水断电并拆除生产设备，建立动态管理台账。",
     EEB, "相山区、杜集区、烈山区"),
    (AIR, "部分加油站油气回收装置运行不正常",
     "全市加油站油气回收装置正常运行率达到100%。",
     "开展油气回收专项检查，督促企业维护检测装置，对不正常运行的依法处罚。",
     EEB, "市商务局"),
    (AIR, "烈山区部分非煤矿山开采扬尘污染严重",
     "非煤矿山全面落实抑尘降尘措施。",
     "督促矿山企业实施道路硬化、喷雾抑尘和运输车辆密闭，对整改不到位的停产整顿。",
     NRP, "烈山区"),
    (AIR, "重污染天气应急减排措施落实不到位",
     "重污染天气应急减排清单企业措施落实率达到100%。",
     "修订重污染天气应急预案，更新减排清单，应急响应期间开展专项督查。",
     EEB, "濉溪县、烈山区"),
    (AIR, "相山区渣土运输车辆密闭运输管理不严",
     "渣土运输车辆全部实现密闭化运输和定位监控。",
     "推行渣土车辆准运证管理，安装卫星定位系统，严查未密闭、超载行为。",
     URB, "相山区"),
    (AIR, "濉溪县部分道路施工扬尘防控措施不到位",
     "公路施工现场扬尘防控措施全面落实。",
     "将扬尘防控纳入施工合同管理，定期开展巡查，对违规施工单位约谈通报。",
     TRA, "濉溪县"),
    (WATER, "濉溪县部分乡镇生活污水处理设施运行不正常",
     "乡镇污水处理设施稳定运行，出水达标排放。",
     "委托第三方专业运营，完善配套管网，建立运行监管考核机制。",
     HUD, "濉溪县"),
    (WATER, "相山区黑臭水体整治不彻底，雨污混流问题突出",
     "建成区黑臭水体消除比例达到90%以上，实现长治久清。",
     "实施雨污分流改造和截污纳管，开展河道清淤和生态补水，定期开展水质监测。",
     HUD, "相山区"),
    (WATER, "杜集区部分入河排污口底数不清，监管缺失",
     "完成入河排污口排查、监测、溯源和分类整治。",
     "开展入河排污口全面排查，建立排污口名录，对非法设置的排污口依法取缔。",
     EEB, "杜集区"),
    (WATER, "濉河淮北段部分断面水质不能稳定达标",
     "濉河考核断面水质稳定达到年度考核目标。",
     "加强流域内工业、生活和农业面源污染治理，实施断面水质达标方案。",
     EEB, "濉溪县、相山区"),
    (WATER, "烈山区工业集聚区污水集中处理设施建设滞后",
     "工业集聚区污水集中处理设施建成并稳定运行。",
     "加快污水处理厂及配套管网建设，推动企业污水预处理后纳管。",
     EEB, "烈山区"),
    (WATER, "部分畜禽养殖场粪污直排，综合利用率不高",
     "畜禽粪污综合利用率达到75%以上。",
     "督促规模养殖场配套粪污处理设施，推广种养结合模式，依法关闭禁养区内养殖场。",
     AGR, "濉溪县、烈山区"),
    (WATER, "城市污水处理厂进水浓度偏低，管网收集效能不高",
     "城市生活污水集中收集效能明显提升。",
     "开展污水管网排查修复，实施清污分流，提高污水处理厂进水浓度。",
     HUD, "相山区、杜集区"),
    (WATER, "濉溪县农村饮用水水源保护区内存在违规建设项目",
     "饮用水水源保护区内违规项目全部清理整治到位。",
     "对保护区内违规项目逐一登记，依法拆除或关闭，完善保护区标识和隔离防护设施。",
     WAT, "濉溪县"),
    (WATER, "部分农村黑臭沟塘整治后出现返黑返臭",
     "已整治沟塘水质保持稳定，不出现返黑返臭。",
     "建立沟塘长效管护机制，落实保洁人员和经费，定期开展水质监测。",
     AGR, "杜集区、烈山区"),
    (WATER, "城区部分景观水体水质较差，富营养化风险较大",
     "城区景观水体主要水质指标保持稳定并有所改善。",
     "实施入湖排口截污、底泥清淤和水生态修复，加强水质监测和预警。",
     WAT, "相山区、杜集区"),
    (WATER, "部分企业废水超标排放，在线监测数据异常",
     "重点排污单位废水稳定达标排放，在线监测数据真实有效。",
     "开展重点排污单位专项执法，核查自动监测设备运行情况，对超标排放企业依法查处。",
     EEB, "烈山区"),
    (WATER, "杜集区部分乡镇污水管网建设滞后，污水收集率低",
     "建制镇污水管网覆盖率和收集率显著提升。",
     "编制乡镇污水管网建设计划，分年度推进主干管网和入户支管建设。",
     HUD, "杜集区"),
    (WATER, "农村生活污水治理推进缓慢",
     "按期完成年度农村生活污水治理任务。",
     "因地制宜选择处理模式，推进中心村污水处理设施建设，落实运行维护资金。",
     AGR, "濉溪县、杜集区、烈山区"),
    (WATER, "部分河道存在非法采砂和乱占乱建问题",
     "河道“四乱”问题全部清理整治到位。",
     "开展河湖“清四乱”专项行动，拆除违法建筑，依法查处非法采砂行为。",
     WAT, "濉溪县"),
    (WATER, "部分加油站地下油罐未完成防渗改造",
     "加油站地下油罐全部完成双层罐更换或防渗池设置。",
     "建立改造台账，逐站督促实施防渗改造，完成后组织验收。",
     COM, "相山区、濉溪县"),
    (WATER, "烈山区部分工业企业雨污分流不彻底，初期雨水未收集处理",
     "涉水企业全部实现雨污分流和初期雨水收集处理。",
     "督促企业完善厂区雨污分流设施，建设初期雨水收集池，纳入日常监管。",
     EEB, "烈山区"),
    (SOIL, "烈山区部分工业固体废物堆场“三防”措施不到位",
     "一般工业固体废物贮存场所全部落实防扬散、防流失、防渗漏措施。",
     "开展工业固体废物堆场排查，督促企业完善防渗、覆盖和导排设施。",
     EEB, "烈山区"),
    (SOIL, "部分危险废物产生单位管理不规范，台账记录不完整",
     "危险废物规范化管理抽查合格率达到90%以上。",
     "开展危险废物规范化管理专项检查，督促企业建立台账、规范贮存设施和转移联单。",
     EEB, "杜集区、烈山区"),
    (SOIL, "医疗废物收集处置体系不健全，基层医疗机构覆盖不全",
     "医疗废物收集处置实现城乡全覆盖。",
     "完善医疗废物收运网络，将乡镇卫生院和村卫生室纳入集中收运范围。",
     HEA, "濉溪县"),
    (SOIL, "濉溪县生活垃圾填埋场渗滤液处理不达标",
     "垃圾填埋场渗滤液全部稳定达标处理。",
     "升级改造渗滤液处理设施，清运积存渗滤液，安装在线监测设备。",
     URB, "濉溪县"),
    (SOIL, "杜集区存在建筑垃圾随意倾倒现象",
     "建筑垃圾乱堆乱倒问题全部清理，建立消纳处置体系。",
     "清理非法倾倒点，规划建设建筑垃圾消纳场所，加强运输环节监管。",
     URB, "杜集区"),
    (SOIL, "煤矸石、粉煤灰等大宗工业固体废物综合利用率偏低",
     "大宗工业固体废物综合利用率逐年提高。",
     "支持煤矸石制砖、粉煤灰建材等综合利用项目，落实资源综合利用税收优惠政策。",
     DRC, "市经济和信息化局、烈山区"),
    (SOIL, "土壤污染重点监管单位隐患排查工作推进缓慢",
     "重点监管单位全部完成土壤污染隐患排查和自行监测。",
     "督促重点监管单位开展隐患排查，编制自行监测方案，将结果纳入监管档案。",
     EEB, "相山区、烈山区"),
    (SOIL, "部分关闭搬迁企业原址地块未开展土壤污染状况调查",
     "疑似污染地块全部完成土壤污染状况调查，建立地块名录。",
     "建立疑似污染地块清单，开展调查评估，未经评估的地块不得开发利用。",
     NRP, "相山区、杜集区"),
    (SOIL, "农用地膜和农药包装废弃物回收率低",
     "农药包装废弃物回收处置率达到80%以上。",
     "建立农药包装废弃物回收网点，推广加厚地膜，落实回收补贴政策。",
     AGR, "濉溪县"),
    (SOIL, "农村生活垃圾收运处置体系不完善，部分村庄垃圾堆积",
     "农村生活垃圾收运处置体系覆盖所有行政村。",
     "推进城乡环卫一体化，配齐收运设施，集中清理陈年垃圾。",
     AGR, "濉溪县、烈山区、杜集区"),
    (SOIL, "部分涉重金属企业周边土壤环境监测不到位",
     "涉重金属企业周边土壤环境监测全部覆盖。",
     "制定周边土壤监测计划，开展监测并公开结果，对超标点位实施风险管控。",
     EEB, "杜集区"),
    (SOIL, "城区生活垃圾分类工作进展缓慢",
     "市辖区基本建成生活垃圾分类处理系统。",
     "完善分类投放、收集、运输和处理设施，开展示范小区创建和宣传引导。",
     URB, "相山区、杜集区"),
    (ECO, "烈山区采煤塌陷区生态修复进度滞后",
     "按期完成采煤塌陷区年度综合治理任务。",
     "编制塌陷区综合治理规划，实施土地复垦和生态修复工程，按月调度工程进度。",
     NRP, "烈山区"),
    (ECO, "杜集区部分关闭矿山未完成地质环境治理",
     "关闭矿山地质环境治理和生态修复全部完成。",
     "实施矿山地质环境恢复治理工程，开展边坡治理、复绿和土地复垦。",
     NRP, "杜集区"),
    (ECO, "相山风景区内存在违规建设问题",
     "景区内违规建设项目全部清理整治到位。",
     "对违规建设项目逐一核查，依法拆除并实施生态复绿。",
     FOR, "相山区"),
    (ECO, "部分自然保护地边界不清，管理机构不健全",
     "完成自然保护地勘界定标，健全管理机构。",
     "开展自然保护地整合优化，设立界桩标识，落实管理人员和经费。",
     FOR, "濉溪县、烈山区"),
    (ECO, "部分湿地被侵占，湿地保护修复不到位",
     "被侵占湿地全部恢复，湿地保护率稳步提高。",
     "开展湿地侵占问题排查，依法清退并实施生态修复，完善湿地保护名录。",
     FOR, "杜集区、濉溪县"),
    (ECO, "濉溪县部分永久基本农田被违规占用",
     "违规占用永久基本农田问题全部整改到位。",
     "开展违法占地专项清查，依法拆除违法建筑并恢复耕种条件。",
     NRP, "濉溪县"),
    (ECO, "城区周边部分山体存在违规采石破坏痕迹",
     "受损山体完成生态修复和复绿。",
     "实施山体修复工程，采取削坡、覆土和植绿措施，严厉打击盗采行为。",
     NRP, "相山区、烈山区"),
    (ECO, "森林资源管护不到位，部分林地被毁",
     "被毁林地全部恢复，森林覆盖率稳步提升。",
     "开展打击毁林专项行动，落实林长制，实施补植复绿。",
     FOR, "烈山区"),
    (ECO, "部分河道岸线生态修复滞后",
     "完成重点河段岸线生态修复任务。",
     "实施河道岸线整治和生态护坡工程，拆除岸线违建，开展植被恢复。",
     WAT, "相山区、杜集区"),
    (ECO, "绿色矿山建设推进缓慢",
     "在产矿山按要求完成绿色矿山建设。",
     "制定绿色矿山建设方案，指导企业实施改造，组织达标评估。",
     NRP, "烈山区"),
    (ECO, "采煤塌陷积水区生态环境保护不到位",
     "塌陷积水区水环境质量保持稳定，生态功能逐步恢复。",
     "排查塌陷积水区周边污染源，禁止违规养殖和倾倒，建设生态缓冲带。",
     WAT, "杜集区、濉溪县"),
    (ECO, "部分生态公益林管护责任落实不到位",
     "生态公益林管护责任全部落实到人。",
     "签订管护协议，配齐护林员，建立巡护台账和考核制度。",
     FOR, "濉溪县"),
    (SUP, "部分县区生态环境保护“党政同责、一岗双责”落实不到位",
     "生态环境保护责任清单全面落实。",
     "制定生态环境保护责任清单，将生态环境保护纳入领导班子和领导干部考核。",
     EEB, "相山区、杜集区、烈山区"),
    (SUP, "环境执法“宽松软”问题依然存在",
     "环境执法力度明显加大，环境违法行为依法严惩。",
     "开展“双随机、一公开”执法检查，严格落实按日连续处罚、查封扣押等措施。",
     EEB, "市生态环境局"),
    (SUP, "部分建设项目未批先建、未验先投",
     "建设项目环境影响评价和“三同时”制度严格落实。",
     "开展建设项目环评专项检查，对违法项目依法查处并督促补办手续。",
     EEB, "杜集区"),
    (SUP, "个别企业自动监控数据弄虚作假",
     "重点排污单位自动监控数据真实准确。",
     "开展自动监控数据质量专项检查，对弄虚作假行为依法移送公安机关。",
     EEB, "市公安局"),
    (SUP, "基层环境监管力量薄弱，网格化监管未落到实处",
     "环境监管网格化体系全面建立并有效运行。",
     "明确各级网格员职责，配备必要执法装备，建立网格巡查考核制度。",
     EEB, "濉溪县"),
    (SUP, "环境信访问题办理质量不高，群众重复投诉较多",
     "环境信访件按期办结率达到100%，重复投诉明显下降。",
     "建立信访件办理台账和回访制度，对重复投诉问题挂牌督办。",
     EEB, "相山区"),
    (SUP, "部分排污单位未依法取得排污许可证",
     "固定污染源排污许可全覆盖。",
     "开展固定污染源清理整顿，督促企业申领排污许可证，依证严格监管。",
     EEB, "烈山区"),
    (SUP, "督察整改工作推进机制不健全，调度督办不到位",
     "建立整改工作调度、督办和销号机制。",
     "制定整改工作规则，实行月调度、季通报和销号验收制度。",
     EEB, "市生态环境局"),
    (SUP, "部分工业园区环境风险防控体系不完善",
     "工业园区突发环境事件应急预案和防控设施全部建立。",
     "督促园区编制应急预案，建设事故应急池，定期开展应急演练。",
     EEB, "烈山区、濉溪县"),
    (SUP, "生态环境损害赔偿制度改革推进缓慢",
     "生态环境损害赔偿制度有效实施。",
     "出台生态环境损害赔偿工作实施办法，开展典型案例磋商和赔偿。",
     EEB, "市司法局"),
    (SUP, "环境监测能力不足，部分监测站点数据代表性不强",
     "环境质量监测网络布局合理，监测数据真实可靠。",
     "优化空气和水质自动监测站点布局，加强监测质量控制，开展数据质量核查。",
     EEB, "相山区、濉溪县"),
    (SUP, "部分企业环境信息公开不及时、不完整",
     "重点排污单位环境信息依法全面公开。",
     "督促重点排污单位通过平台公开排放信息，对未按要求公开的依法处罚。",
     EEB, "杜集区"),
]

# Supervising leaders (责任领导) per category, in row order: (name, number of rows).
LEADERS = {
    AIR: [("王建国", 8), ("李红梅", 8)],
    WATER: [("张志强", 8), ("刘淑芬", 8)],
    SOIL: [("赵立新", 8), ("李红梅", 4)],
    ECO: [("孙海涛", 8), ("周文静", 4)],
    SUP: [("吴国华", 7), ("周文静", 5)],
}

# Pools for 配合单位 per category.
HELPERS = {
    AIR: [EEB, HUD, URB, PSB, TRA, EIT],
    WATER: [EEB, WAT, HUD, AGR, DRC],
    SOIL: [EEB, URB, AGR, NRP, EIT],
    ECO: [NRP, FOR, WAT, EEB, AGR],
    SUP: [PSB, JUS, DRC, EIT],
}

TEXT_DEADLINES = [
    "2019年12月31日", "2020-06-30", "2020/10/31", "2020年底", "2019年底", "2020年6月底",
]
LONG_TERM = "长期坚持"
LONG_TERM_ROWS = {7, 11, 14, 57, 58, 61, 62, 64}
DATE_ROWS = {5: date(2020, 12, 31), 29: date(2020, 12, 31), 38: date(2020, 6, 30),
             45: date(2020, 12, 31), 53: date(2019, 12, 31)}
# The two items still in progress (整改中), both time-bound with a deadline at the end of 2020.
IN_PROGRESS = {
    20: ("2020年底", "正在推进，流域综合治理工程已完成总工程量的80%，断面水质持续改善。"),
    45: (None, "正在推进，已完成年度治理面积的85%，剩余复垦和修复工程加快实施。"),
}

DONE_NOTES = [
    "已完成整改，建立长效监管机制。",
    "已按期完成整改任务，经验收合格予以销号。",
    "已完成整改，相关问题全部清理到位，纳入日常监管。",
    "已完成整改，经现场核查达到整改目标。",
    "整改措施已全部落实，已通过验收销号。",
    "已完成整改，并建立定期巡查和通报制度。",
]
LONG_TERM_NOTE = "已完成阶段性整改任务，长效机制已建立，持续巩固提升。"

HEADERS = ["序号", "问题类别", "反馈问题", "整改目标", "整改措施", "责任领导", "牵头单位",
           "责任单位", "配合单位", "验收单位", "整改时限", "整改进展", "整改状态"]
WIDTHS = [6, 22, 44, 40, 56, 10, 18, 28, 28, 18, 14, 44, 10]

ACC_HEADERS = ["问责对象", "对象类型", "所在单位", "职级", "问责方式", "关联问题序号",
               "决定机关", "决定日期", "是否公开"]
ACC_WIDTHS = [26, 10, 30, 8, 18, 12, 26, 12, 8]
# 问责情况: 3 party organisations and 7 cadres (3 县处级, 4 乡科级); all fictional.
ACCOUNTABILITY = [
    ("中共杜集区青湖镇委员会", "党组织", "杜集区", "", "检查", "1、37",
     "中共杜集区纪律检查委员会", "2020-05-20", "是"),
    ("中共濉溪县柳河镇委员会", "党组织", "濉溪县", "", "通报", "17",
     "中共濉溪县纪律检查委员会", "2020-07-08", "是"),
    ("中共烈山区南岭镇委员会", "党组织", "烈山区", "", "检查", "45",
     "中共烈山区纪律检查委员会", "2020-09-16", "是"),
    ("冯立军", "领导干部", "濉溪县人民政府", "县处级", "诫勉", "3、17",
     "中共淮北市纪律检查委员会", "2020-06-12", "是"),
    ("钱志远", "领导干部", "烈山区人民政府", "县处级", "通报、诫勉", "45",
     "中共淮北市纪律检查委员会", "2020-10-21", "是"),
    ("郑卫东", "领导干部", "市城市管理局", "县处级", "组织调整", "36",
     "淮北市监察委员会", "2021-01-14", "否"),
    ("何晓东", "领导干部", "杜集区住房城乡建设局", "乡科级", "纪律处分", "1",
     "中共杜集区纪律检查委员会", "2020-04-23", "是"),
    ("马俊峰", "领导干部", "濉溪县柳河镇人民政府", "乡科级", "诫勉、组织调整", "17、24",
     "中共濉溪县纪律检查委员会", "2020-08-15", "是"),
    ("许文斌", "领导干部", "市自然资源和规划局烈山分局", "乡科级", "纪律处分", "46",
     "淮北市监察委员会", "2020-12-03", "是"),
    ("韩建军", "领导干部", "相山区城市管理局", "乡科级", "通报", "2、15",
     "中共相山区纪律检查委员会", "2021-03-10", "否"),
]

NOTES = [
    ("说明 / Notes", ""),
    ("数据性质", "示例数据，根据公开报告虚构，非真实台账。"),
    ("Nature of the data",
     "Synthetic sample data, invented after the structure of a public report; "
     "not real records."),
    ("参照来源", "淮北市关于2019年省级生态环境保护督察反馈意见整改情况的公开报告（仅参照结构）。"),
    ("Modelled on",
     "Huaibei city's public report on rectifying the 2019 provincial ecological-environment "
     "inspection feedback (structure only)."),
    ("整改任务", "68个，分5个问题类别，由8名责任领导牵头督办。"),
    ("Issues", "68 issues in 5 categories, supervised by 8 leaders."),
    ("整改状态", "截至2021年3月28日，已完成整改（已销号）66个，其余2个正在推进整改（整改中）。"),
    ("States", "66 cleared (已销号), 2 in progress (整改中)."),
    ("问责情况", "问责党组织3个、领导干部7名，其中县处级干部3人、乡科级干部4人。"),
    ("Accountability", "3 party organisations and 7 cadres: 县处级 3, 乡科级 4."),
    ("生成方式", "由 make_sample.py 确定性生成。"),
    ("Generated by", "make_sample.py (deterministic)."),
]

BOLD = Font(bold=True)
HEADER_FILL = PatternFill(fill_type="solid", start_color="DDEBF7", end_color="DDEBF7")
WRAP = Alignment(wrap_text=True, vertical="top")


def style_header(ws, widths: list[int]) -> None:
    for cell in ws[1]:
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"


def leader_column() -> list[str]:
    queues = {cat: [name for name, n in spec for _ in range(n)] for cat, spec in LEADERS.items()}
    return [queues[cat].pop(0) for cat, *_ in ISSUES]


def acceptance_unit(category: str, lead: str) -> str:
    if category == ECO:
        return lead
    return lead if lead == WAT else EEB


def build_ledger(ws, rng: random.Random) -> None:
    ws.append(HEADERS)
    leaders = leader_column()
    for i, (category, problem, target, measures, lead, units) in enumerate(ISSUES, start=1):
        pool = [u for u in HELPERS[category] if u != lead and u not in units]
        helpers = "、".join(rng.sample(pool, rng.choice([0, 1, 1, 2])))
        deadline: str | date
        if i in LONG_TERM_ROWS:
            deadline, note, state = LONG_TERM, LONG_TERM_NOTE, "已销号"
        else:
            deadline = DATE_ROWS.get(i) or TEXT_DEADLINES[i % len(TEXT_DEADLINES)]
            note, state = rng.choice(DONE_NOTES), "已销号"
        if i in IN_PROGRESS:
            text_deadline, note = IN_PROGRESS[i]
            deadline, state = text_deadline or deadline, "整改中"
        ws.append([i, category, problem, target, measures, leaders[i - 1], lead, units, helpers,
                   acceptance_unit(category, lead), deadline, note, state])
        row = ws.max_row
        for col in (3, 4, 5, 8, 9, 12):
            ws.cell(row=row, column=col).alignment = WRAP
        if isinstance(deadline, date):
            ws.cell(row=row, column=11).number_format = "yyyy-mm-dd"
    style_header(ws, WIDTHS)


def build_accountability(ws) -> None:
    ws.append(ACC_HEADERS)
    for row in ACCOUNTABILITY:
        ws.append(list(row))
    style_header(ws, ACC_WIDTHS)


def build_notes(ws) -> None:
    for row in NOTES:
        ws.append(list(row))
    ws["A1"].font = BOLD
    ws.column_dimensions["A"].width = 20
    ws.column_dimensions["B"].width = 90


def check() -> None:
    problems = [p for _, p, *_ in ISSUES]
    assert len(ISSUES) == 68, len(ISSUES)
    assert len(set(problems)) == len(problems), "duplicate 反馈问题"
    for cat, spec in LEADERS.items():
        assert sum(n for _, n in spec) == sum(1 for c, *_ in ISSUES if c == cat), cat


def pinned_bytes(data: bytes) -> bytes:
    """Re-pack the xlsx with fixed zip timestamps and a fixed modified date."""
    stamp = PINNED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, body)
            dst.writestr(zipfile.ZipInfo(info.filename, PINNED.timetuple()[:6]), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def main() -> None:
    check()
    rng = random.Random(2019)
    wb = Workbook()
    build_ledger(wb.active, rng)
    wb.active.title = "整改情况清单"
    build_accountability(wb.create_sheet("问责情况"))
    build_notes(wb.create_sheet("说明"))
    wb.properties.title = "淮北市整改情况清单（示例数据）"
    wb.properties.description = ("示例数据，根据公开报告虚构，非真实台账。Synthetic sample data "
                                 "modelled on a public report; not real records.")
    wb.properties.creator = "rectify examples"
    wb.properties.created = PINNED
    buf = io.BytesIO()
    wb.save(buf)
    OUT.write_bytes(pinned_bytes(buf.getvalue()))
    print(f"wrote {OUT} ({len(ISSUES)} issues, {len(ACCOUNTABILITY)} accountability rows)")


if __name__ == "__main__":
    main()
