#!/usr/bin/env bash
# Remakes the bundled prompts: sounds/<lang>/<name>.wav, 8 kHz mono 16-bit PCM.
# Needs espeak-ng and sox (apt-get install espeak-ng sox). Output is committed; rerun after
# editing a text below. Usage: scripts/make-prompts.sh [OUTDIR]   (default: sounds)
set -euo pipefail
out=${1:-sounds}
declare -A EN=(
  [welcome]="Welcome to the Qonyrau contact center."
  [menu]="For information about our services, press 1. For our working hours, press 2. To speak to an operator, press 0."
  [connecting]="Please hold, we are connecting you to an operator."
  [operators_unavailable]="Sorry, no operator can take your call right now. Please call again later."
  [invalid_key]="Sorry, that key is not valid."
  [no_input]="We did not receive your choice."
  [service_info]="Our center answers questions about public services by phone, e-mail and the web portal."
  [working_hours]="We work Monday to Friday, from nine a.m. to six thirty p.m., Astana time."
  [goodbye]="Thank you for calling. Goodbye."
  [agent_logged_in]="You are logged in to your queues."
  [agent_logged_out]="You are logged out of your queues."
  [agent_paused]="You are paused."
  [agent_unpaused]="You are available again."
  [agent_refused]="Sorry, this extension is not a member of any queue."
)
declare -A RU=(
  [welcome]="Добро пожаловать в контакт-центр Коныр+ау."
  [menu]="Чтобы узнать о наших услугах, нажмите один. Чтобы узнать часы работы, нажмите два. Чтобы поговорить с оператором, нажмите ноль."
  [connecting]="Пожалуйста, оставайтесь на линии, мы соединяем вас с оператором."
  [operators_unavailable]="Извините, сейчас ни один оператор не может ответить. Пожалуйста, позвоните позже."
  [invalid_key]="Извините, такой клавиши нет в меню."
  [no_input]="Мы не получили ваш выбор."
  [service_info]="Наш центр отвечает на вопросы о государственных услугах по телефону, электронной почте и через портал."
  [working_hours]="Мы работаем с понедельника по пятницу, с девяти до восемнадцати тридцати по времени Астаны."
  [goodbye]="Спасибо за звонок. До свидания."
  [agent_logged_in]="Вы вошли в свои очереди."
  [agent_logged_out]="Вы вышли из своих очередей."
  [agent_paused]="Вы на паузе."
  [agent_unpaused]="Вы снова принимаете звонки."
  [agent_refused]="Извините, этот номер не состоит ни в одной очереди."
)
declare -A KK=(
  [welcome]="Қоңырау байланыс орталығына қош келдіңіз."
  [menu]="Қызметтеріміз туралы білу үшін бірді басыңыз. Жұмыс уақытын білу үшін екіні басыңыз. Операторға қосылу үшін нөлді басыңыз."
  [connecting]="Күте тұрыңыз, сізді операторға қосып жатырмыз."
  [operators_unavailable]="Кешіріңіз, қазір бірде-бір оператор жауап бере алмайды. Кейінірек қоңырау шалыңыз."
  [invalid_key]="Кешіріңіз, мұндай перне жоқ."
  [no_input]="Біз сіздің таңдауыңызды алмадық."
  [service_info]="Біздің орталық мемлекеттік қызметтер туралы сұрақтарға телефон, электрондық пошта және портал арқылы жауап береді."
  [working_hours]="Біз дүйсенбіден жұмаға дейін, Астана уақытымен сағат тоғыздан он сегіз отызға дейін жұмыс істейміз."
  [goodbye]="Қоңырауыңызға рахмет. Сау болыңыз."
  [agent_logged_in]="Сіз кезектеріңізге кірдіңіз."
  [agent_logged_out]="Сіз кезектеріңізден шықтыңыз."
  [agent_paused]="Сіз үзілістесіз."
  [agent_unpaused]="Сіз қайтадан қоңырау қабылдайсыз."
  [agent_refused]="Кешіріңіз, бұл нөмір ешбір кезекке кірмейді."
)
make() { # lang voice name text
  mkdir -p "$out/$1"
  espeak-ng -v "$2" -s 150 --stdout "$4" | sox -q -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$out/$1/$3.wav"
}
for k in "${!EN[@]}"; do make en en "$k" "${EN[$k]}"; done
for k in "${!RU[@]}"; do make ru ru "$k" "${RU[$k]}"; done
for k in "${!KK[@]}"; do make kk kk "$k" "${KK[$k]}"; done
echo "prompts written to $out/{en,ru,kk}"
